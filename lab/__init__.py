"""The okd-registry-toolkit lab: an OKD-3.11-shaped environment on one machine.

See docs/lab-design.md and docs/lab.md. Entry point: ``python -m lab``.
"""

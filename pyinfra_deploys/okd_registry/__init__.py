"""pyinfra operations and deploys of okd-registry-toolkit (registry credentials on OKD 3.11 hosts).

Installed with ``pip install .`` (pyproject.toml) this package is ``okd_registry_toolkit``:

    from okd_registry_toolkit.deploys import registry_credentials, compliance   # @deploy functions
    from okd_registry_toolkit import operations                                # @operation wrappers
    from okd_registry_toolkit.core import dockercfg                            # the stdlib-only core

In the repository checkout the same files are ``pyinfra_deploys.okd_registry`` and the core is
``plugins/module_utils`` (the Ansible collection's layout, not moved); the repository root is put on
sys.path so that the core is importable as ``plugins.module_utils.<mod>``.

The modules of this package and the core's own fallbacks (installer_vars, the compliance filters) name the
core ``plugins.module_utils`` and the filters ``plugins.filter``. Installed, those names are served by
``_CoreAlias`` below from this package's own ``core`` and ``filter`` subpackages: the very same module
objects (one ``ToolkitError`` class, not two copies), loaded only on demand; nothing named ``plugins`` is
installed (an empty parent module stands in when no other ``plugins`` exists), and only those two
prefixes are answered.
"""
import importlib
import importlib.abc
import importlib.util
import os
import sys
import types

__version__ = "0.1.0"

_HERE = os.path.dirname(os.path.abspath(__file__))
#: True when this is the pip-installed ``okd_registry_toolkit`` (the core is a subpackage of it)
INSTALLED = os.path.isfile(os.path.join(_HERE, "core", "dockercfg.py"))

if INSTALLED:
    REPO_ROOT = None
    CORE_PACKAGE = __name__ + ".core"
else:
    REPO_ROOT = os.path.dirname(os.path.dirname(_HERE))
    CORE_PACKAGE = "plugins.module_utils"
    if REPO_ROOT not in sys.path:
        sys.path.insert(0, REPO_ROOT)


class _CoreAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``plugins.module_utils[.X]`` -> ``<package>.core[.X]``, ``plugins.filter[.X]`` -> ``<package>.filter[.X]``
    (the same module objects); ``plugins`` itself is an empty parent with no search path."""

    def __init__(self, package):
        self.aliases = (("plugins.module_utils", package + ".core"), ("plugins.filter", package + ".filter"))
        self._specs = {}

    def _target(self, fullname):
        for old, new in self.aliases:
            if fullname == old or fullname.startswith(old + "."):
                return new + fullname[len(old):]
        return None

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "plugins":
            # a real ``plugins`` package elsewhere on sys.path stays importable as it is (its
            # ``module_utils``/``filter`` are still answered here: this finder comes first)
            for finder in sys.meta_path:
                if finder is not self and hasattr(finder, "find_spec") and finder.find_spec(fullname, path, target):
                    return None
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        if self._target(fullname) is None:
            return None
        if importlib.util.find_spec(self._target(fullname)) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=True)

    def create_module(self, spec):
        if spec.name == "plugins":
            module = types.ModuleType("plugins", "alias parent of okd_registry_toolkit's core (see its docstring)")
            module.__path__ = []
            return module
        module = importlib.import_module(self._target(spec.name))
        self._specs[spec.name] = module.__spec__  # importlib overwrites __spec__ with the alias's spec
        return module

    def exec_module(self, module):
        real = self._specs.pop(getattr(module.__spec__, "name", None), None)
        if real is not None:
            module.__spec__ = real


if INSTALLED and not any(isinstance(f, _CoreAlias) for f in sys.meta_path):
    sys.meta_path.insert(0, _CoreAlias(__name__))

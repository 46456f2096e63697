"""Core htpasswd.py (shared by the module okd_htpasswd_content and the stand-alone registry's files action):
hashes kept while their password matches (also Apache's $2y$), new bcrypt hashes otherwise, unwanted users
dropped and reported, bad entries refused without echoing a password; and the http_transport CA lookup the
credential modules share."""
import os
import sys

import bcrypt
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                ".collections"))
from ansible_collections.okd.registry_toolkit.plugins.module_utils import htpasswd  # noqa: E402
from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError  # noqa: E402
from ansible_collections.okd.registry_toolkit.plugins.module_utils.http_transport import registry_ca_file  # noqa: E402


def test_keeps_matching_hashes_rehashes_changed_and_drops_unwanted():
    users = [{"username": "a", "password": "pa"}, {"username": "b", "password": "pb"}]
    first, changed = htpasswd.content(bcrypt, "", users, cost=4)
    assert changed == ["a", "b"]
    hashes = htpasswd.parse(first)
    assert bcrypt.checkpw(b"pa", hashes["a"].encode()) and bcrypt.checkpw(b"pb", hashes["b"].encode())
    assert htpasswd.content(bcrypt, first, users, cost=4) == (first, [])
    text, changed = htpasswd.content(bcrypt, first + "# note\ngone:$2y$04$abc\n",
                                     [users[0], {"username": "b", "password": "new"}], cost=4)
    assert changed == ["b", "gone"]
    new = htpasswd.parse(text)
    assert new["a"] == hashes["a"] and new["b"] != hashes["b"] and "gone" not in new


def test_apache_2y_hash_is_kept_and_other_schemes_are_replaced():
    h = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    y = "u:$2y$" + h[4:] + "\n"
    assert htpasswd.content(bcrypt, y, [{"username": "u", "password": "pw"}], cost=4) == (y, [])
    apr1 = "u:$apr1$salt$hash\n"
    text, changed = htpasswd.content(bcrypt, apr1, [{"username": "u", "password": "pw"}], cost=4)
    assert changed == ["u"] and text.startswith("u:$2b$")
    assert not htpasswd.matches(bcrypt, "pw", "$2b$garbage")


@pytest.mark.parametrize("users", [[{"username": "a:b", "password": "secret-pw"}],
                                   [{"username": "a", "password": "secret-pw"}, {"username": "a", "password": "x"}],
                                   [{"username": "", "password": "secret-pw"}],
                                   ["not-a-mapping"]])
def test_bad_entries_are_refused_without_the_password(users):
    with pytest.raises(ToolkitError) as e:
        htpasswd.content(bcrypt, "", users, cost=4)
    assert "unique username" in str(e.value) and "secret-pw" not in str(e.value)


def test_registry_ca_file(tmp_path):
    (tmp_path / "reg.lab:5000").mkdir()
    (tmp_path / "reg.lab:5000" / "ca.crt").write_text("x")
    assert registry_ca_file("reg.lab:5000", "/given/ca.pem", str(tmp_path)) == "/given/ca.pem"
    assert registry_ca_file("reg.lab:5000", None, str(tmp_path)) == os.path.join(str(tmp_path), "reg.lab:5000", "ca.crt")
    assert registry_ca_file("other.lab", None, str(tmp_path)) is None
    assert registry_ca_file("../reg.lab:5000", None, str(tmp_path)) is None
    assert registry_ca_file("reg.lab:5000", "", "") is None

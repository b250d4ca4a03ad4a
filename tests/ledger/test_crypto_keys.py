"""Encryption key pairs beside the Ethereum keys: `heritage keys new|new-encryption|list|export
|import` and ledger.keys' encryption functions. Keys use ``--unsafe-light-kdf``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from ledger.crypto import KEM_X25519, new_content_key, unwrap, wrap
from ledger.errors import KeystoreError, NotFound, WrongPassphrase
from ledger.keys import (
    ENCRYPTION_EXPORT_FIELD,
    encryption_key_info,
    import_keystore,
    load_encryption_key,
    load_encryption_key_file,
    new_encryption_key,
    new_key,
)
from tests.ledger.test_keys import PASSPHRASE, light, mode, run


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password.txt"
    path.write_text(PASSPHRASE + "\n")
    return path


def test_keys_new_creates_both_and_list_shows_them(tmp_path: Path, password_file: Path) -> None:
    data = tmp_path / "data"
    out = run(data, "keys", "new", "--password-file", str(password_file),
              "--unsafe-light-kdf", "--json")
    info = json.loads(out.stdout)
    enc = info["encryption"]
    path = Path(enc["path"])
    assert path == data / "keys" / "encryption" / f"{info['address']}.json"
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert enc["kem"] == "MLKEM768-X25519" and enc["key_id"].startswith("0x")
    stored = json.loads(path.read_text())
    assert stored["address"] == info["address"] and "crypto" in stored
    listed = json.loads(run(data, "keys", "list", "--json").stdout)
    assert [e["encryption"]["key_id"] for e in listed] == [enc["key_id"]]
    assert enc["key_id"] in run(data, "keys", "list").stdout
    # the key opens with the Ethereum key's passphrase, and only with it
    pair = load_encryption_key(light(data), info["address"], PASSPHRASE)
    assert "0x" + pair.public.key_id.hex() == enc["key_id"]
    with pytest.raises(WrongPassphrase):
        load_encryption_key(light(data), info["address"], PASSPHRASE + "x")


def test_new_encryption_for_an_existing_key_and_its_errors(
    tmp_path: Path, password_file: Path
) -> None:
    data = tmp_path / "data"
    out = run(data, "keys", "new", "--no-encryption", "--password-file", str(password_file),
              "--unsafe-light-kdf", "--json")
    address = json.loads(out.stdout)["address"]
    assert "encryption" not in json.loads(out.stdout)
    with pytest.raises(NotFound, match="new-encryption"):
        encryption_key_info(light(data), address)
    wrong = tmp_path / "wrong"
    wrong.write_text("nope")
    bad = run(data, "keys", "new-encryption", address, "--password-file", str(wrong),
              "--unsafe-light-kdf", check=False)
    assert bad.returncode == 1 and "wrong_passphrase" in bad.stderr
    assert not (data / "keys" / "encryption").exists() or not list(
        (data / "keys" / "encryption").iterdir()
    )
    made = run(data, "keys", "new-encryption", address, "--kem", "X25519",
               "--password-file", str(password_file), "--unsafe-light-kdf", "--json")
    assert json.loads(made.stdout)["kem"] == "X25519"
    again = run(data, "keys", "new-encryption", address, "--password-file",
                str(password_file), "--unsafe-light-kdf", check=False)
    assert again.returncode == 1 and "key_exists" in again.stderr
    unknown = run(data, "keys", "new-encryption", address, "--kem", "RSA",
                  "--password-file", str(password_file), check=False)
    assert unknown.returncode == 2 and "usage_error" in unknown.stderr
    nobody = run(data, "keys", "new-encryption", "0x" + "12" * 20, "--password-file",
                 str(password_file), check=False)
    assert nobody.returncode == 1 and "not_found" in nobody.stderr


def test_export_carries_the_sealed_encryption_key_and_import_restores_it(
    tmp_path: Path, password_file: Path
) -> None:
    data, other = tmp_path / "data", tmp_path / "other"
    info = new_key(light(data), PASSPHRASE, unsafe_light_kdf=True, encryption=KEM_X25519)
    pair = load_encryption_key(light(data), info.address, PASSPHRASE)
    exported = tmp_path / "backup.json"
    run(data, "keys", "export", info.address, "-o", str(exported))
    assert mode(exported) == 0o600
    text = exported.read_text()
    assert pair.secret.hex() not in text
    document = json.loads(text)
    assert document[ENCRYPTION_EXPORT_FIELD]["address"] == info.address
    # still a keystore v3 file for any reader
    assert Account.from_key(Account.decrypt(document, PASSPHRASE)).address == info.address
    run(other, "keys", "import", "--keystore", str(exported), "--password-file",
        str(password_file))
    restored = load_encryption_key(light(other), info.address, PASSPHRASE)
    assert restored.public == pair.public
    # the restored key opens what was wrapped for the original
    key = new_content_key()
    assert unwrap(wrap(key, bytes(32), [pair.public]), restored, bytes(32)) == key
    stored = json.loads((other / "keys" / f"{info.address}.json").read_text())
    assert ENCRYPTION_EXPORT_FIELD not in stored


def test_import_refuses_an_encryption_key_of_another_owner(tmp_path: Path) -> None:
    data = tmp_path / "data"
    a = new_key(light(data), PASSPHRASE, unsafe_light_kdf=True)
    b = new_key(light(data), PASSPHRASE, unsafe_light_kdf=True)
    new_encryption_key(light(data), b.address, PASSPHRASE, unsafe_light_kdf=True)
    document = json.loads(a.path.read_text())
    document[ENCRYPTION_EXPORT_FIELD] = json.loads(
        (data / "keys" / "encryption" / f"{b.address}.json").read_text()
    )
    with pytest.raises(KeystoreError, match="belongs to"):
        import_keystore(light(tmp_path / "fresh"), json.dumps(document), PASSPHRASE)
    assert not (tmp_path / "fresh" / "keys").exists() or not any(
        (tmp_path / "fresh" / "keys").glob("*.json")
    )


def test_an_export_without_an_encryption_key_is_refused_as_a_key_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    info = new_key(light(data), PASSPHRASE, unsafe_light_kdf=True)
    with pytest.raises(KeystoreError, match="holds no encryption key"):
        load_encryption_key_file(info.path, PASSPHRASE)
    new_encryption_key(light(data), info.address, PASSPHRASE, unsafe_light_kdf=True)
    sealed = data / "keys" / "encryption" / f"{info.address}.json"
    assert load_encryption_key_file(sealed, PASSPHRASE).public == encryption_key_info(
        light(data), info.address
    ).public
    with pytest.raises(WrongPassphrase):
        load_encryption_key_file(sealed, "nope")

"""ledger.keys and `heritage keys`: keystore v3 files, their modes, and secrets that never leak.

Most tests run the CLI (in-process, tests/cli_runner.py). Keys they create use
``--unsafe-light-kdf`` (scrypt n = 2**10) except where the default parameters themselves are
under test.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import KeyExists, KeystoreError, NotFound, UsageError, WrongPassphrase
from ledger.keys import (
    import_keystore,
    import_private_key,
    list_keys,
    load_signer,
    new_key,
    parse_private_key,
    read_passphrase_file,
)
from ledger.settings import Settings, load_settings
from tests.cli_runner import run_heritage
from tests.reaching import reached, reaches

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
# geth's StandardScryptN (1 << 18), r = 8, p = 1: the parameters of a real keystore file.
GETH_STANDARD_SCRYPT = {"n": 1 << 18, "r": 8, "p": 1}


def run(
    data_dir: Path, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {"HERITAGE_DATA_DIR": str(data_dir), "HERITAGE_FSYNC": "false"}
    # The runner gives no controlling terminal: prompts read stdin, as under a script.
    proc = run_heritage(args, env=env, input=stdin)
    assert "Traceback" not in proc.stderr, proc.stderr
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def light(data_dir: Path) -> Settings:
    return load_settings(env={}, data_dir=data_dir, fsync=False)


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password.txt"
    path.write_text("correct horse battery staple\n")
    return path


PASSPHRASE = "correct horse battery staple"


def test_new_key_file_and_directory_modes_and_real_scrypt_by_default(
    tmp_path: Path, password_file: Path
) -> None:
    data = tmp_path / "data"
    out = run(
        data, "keys", "new", "--label", "elders 1", "--password-file", str(password_file), "--json"
    )
    info = json.loads(out.stdout)
    path = Path(info["path"])
    assert path.parent == data / "keys"
    assert path.name == f"{info['address']}.json"
    assert mode(data / "keys") == 0o700
    assert mode(path) == 0o600
    document = json.loads(path.read_text())
    assert document["version"] == 3
    assert document["label"] == "elders 1"
    params = document["crypto"]["kdfparams"]
    assert document["crypto"]["kdf"] == "scrypt"
    assert {k: params[k] for k in ("n", "r", "p")} == GETH_STANDARD_SCRYPT
    # Any keystore v3 reader opens it, and it holds the key of the address it is named for.
    key = Account.decrypt(document, PASSPHRASE)
    assert Account.from_key(key).address == info["address"]


def test_modes_hold_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        info = new_key(light(tmp_path / "data"), "pw-umask", unsafe_light_kdf=True)
    finally:
        os.umask(old)
    assert mode(info.path) == 0o600
    assert mode(info.path.parent) == 0o700


def test_wrong_passphrase_is_a_typed_error_that_does_not_echo_it(tmp_path: Path) -> None:
    settings = light(tmp_path / "data")
    info = new_key(settings, "the right one", unsafe_light_kdf=True)
    assert load_signer(settings, info.address, "the right one").address == info.address
    with pytest.raises(WrongPassphrase) as caught:
        load_signer(settings, info.address, "a wrong guess 123")
    assert "a wrong guess 123" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    # Lower-case or checksummed addresses name the same key.
    assert load_signer(settings, info.address.lower(), "the right one").address == info.address
    with pytest.raises(NotFound):
        load_signer(settings, "0x" + "12" * 20, "the right one")
    with pytest.raises(UsageError):
        load_signer(settings, "not an address", "the right one")


def test_cli_import_wrong_keystore_passphrase(tmp_path: Path) -> None:
    account = Account.create()
    keystore = tmp_path / "ks.json"
    keystore.write_text(json.dumps(Account.encrypt(account.key, "real-pass", iterations=2**10)))
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("definitely-not-it\n")
    proc = run(
        tmp_path / "data",
        "keys",
        "import",
        "--keystore",
        str(keystore),
        "--password-file",
        str(wrong),
        check=False,
    )
    assert proc.returncode == 1
    assert "wrong_passphrase" in proc.stderr
    assert "definitely-not-it" not in proc.stderr + proc.stdout
    assert not (tmp_path / "data" / "keys").exists() or not list(
        (tmp_path / "data" / "keys").iterdir()
    )


def test_import_export_round_trip_through_the_cli(tmp_path: Path, password_file: Path) -> None:
    account = Account.create()
    key_file = tmp_path / "key.hex"
    key_file.write_text("0x" + account.key.hex() + "\n")
    data = tmp_path / "data"
    out = run(
        data,
        "keys",
        "import",
        "--key-file",
        str(key_file),
        "--label",
        "steward",
        "--password-file",
        str(password_file),
        "--unsafe-light-kdf",
        "--json",
    )
    assert json.loads(out.stdout)["address"] == account.address
    listed = json.loads(run(data, "keys", "list", "--json").stdout)
    assert listed == [
        {
            "address": account.address,
            "label": "steward",
            "path": str(data / "keys" / f"{account.address}.json"),
        }
    ]
    exported = tmp_path / "out" / "exported.json"
    exported.parent.mkdir()
    run(data, "keys", "export", account.address.lower(), "-o", str(exported))
    assert mode(exported) == 0o600
    assert Account.decrypt(exported.read_text(), PASSPHRASE) == account.key
    # Exporting over an existing file is refused.
    again = run(data, "keys", "export", account.address, "-o", str(exported), check=False)
    assert again.returncode == 2
    # The exported file imports into another data directory as the same key and label.
    other = tmp_path / "other"
    run(other, "keys", "import", "--keystore", str(exported), "--password-file", str(password_file))
    [info] = list_keys(light(other))
    assert (info.address, info.label) == (account.address, "steward")
    assert load_signer(light(other), account.address, PASSPHRASE).key == account.key
    # A second import of the same key is refused with its own code.
    dup = run(
        data,
        "keys",
        "import",
        "--key-file",
        str(key_file),
        "--password-file",
        str(password_file),
        "--unsafe-light-kdf",
        check=False,
    )
    assert dup.returncode == 1 and "key_exists" in dup.stderr


def test_import_from_the_prompt_with_confirmation(tmp_path: Path) -> None:
    account = Account.create()
    data = tmp_path / "data"
    secret = account.key.hex()
    proc = run(
        data,
        "keys",
        "import",
        "--unsafe-light-kdf",
        "--json",
        stdin=f"{secret}\nprompt-pass-1\nprompt-pass-1\n",
    )
    assert json.loads(proc.stdout)["address"] == account.address
    assert secret not in proc.stdout + proc.stderr
    assert load_signer(light(data), account.address, "prompt-pass-1").key == account.key
    # Confirmation that does not match: nothing is stored.
    other = Account.create()
    bad = run(
        tmp_path / "d2",
        "keys",
        "import",
        "--unsafe-light-kdf",
        stdin=f"{other.key.hex()}\nfirst-pass\nsecond-pass\n",
        check=False,
    )
    assert bad.returncode != 0
    assert list_keys(light(tmp_path / "d2")) == []
    assert other.key.hex() not in bad.stdout + bad.stderr


def test_new_from_the_prompt(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = run(data, "keys", "new", "--unsafe-light-kdf", "--json", stdin="np-123456\nnp-123456\n")
    address = json.loads(proc.stdout)["address"]
    assert load_signer(light(data), address, "np-123456").address == address


def test_a_bad_key_file_is_refused_without_echoing_it(tmp_path: Path, password_file: Path) -> None:
    key_file = tmp_path / "key.hex"
    almost = "ab" * 31 + "c"  # 63 hex digits
    key_file.write_text(almost)
    proc = run(
        tmp_path / "data",
        "keys",
        "import",
        "--key-file",
        str(key_file),
        "--password-file",
        str(password_file),
        check=False,
    )
    assert proc.returncode == 2
    assert "64 hex digits" in proc.stderr
    assert almost not in proc.stderr + proc.stdout
    for bad in ("00" * 32, f"{SECP256K1_N:064x}", "zz" * 32):
        with pytest.raises(UsageError) as caught:
            parse_private_key(bad)
        assert bad not in str(caught.value)
    assert parse_private_key(" 0x" + "01" * 32 + "\n") == bytes([1] * 32)


def test_a_keystore_claiming_another_address_is_refused(tmp_path: Path) -> None:
    account = Account.create()
    document = Account.encrypt(account.key, "pw-x", iterations=2**10)
    document["address"] = "11" * 20
    with pytest.raises(KeystoreError, match="claims address"):
        import_keystore(light(tmp_path / "d"), json.dumps(document), "pw-x")
    with pytest.raises(KeystoreError, match="not a keystore v3"):
        import_keystore(light(tmp_path / "d"), '{"version": 1}', "pw-x")


def test_empty_passphrase_and_duplicate_import_are_refused(tmp_path: Path) -> None:
    settings = light(tmp_path / "d")
    account = Account.create()
    with pytest.raises(UsageError, match="empty"):
        import_private_key(settings, bytes(account.key), "", unsafe_light_kdf=True)
    import_private_key(settings, bytes(account.key), "p", unsafe_light_kdf=True)
    with pytest.raises(KeyExists):
        import_private_key(settings, bytes(account.key), "q", unsafe_light_kdf=True)


def test_password_file_loses_one_trailing_newline_only(tmp_path: Path) -> None:
    path = tmp_path / "p"
    path.write_bytes(b"  spaced pass \r\n")
    assert read_passphrase_file(path) == "  spaced pass "
    path.write_bytes(b"\n")
    with pytest.raises(UsageError, match="empty"):
        read_passphrase_file(path)


def all_text_under(folder: Path, skip: set[Path]) -> str:
    chunks = []
    for path in folder.rglob("*"):
        if path.is_file() and path not in skip:
            chunks.append(path.read_bytes().decode("latin-1"))
    return "\n".join(chunks)


@reaches(0.8)
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    secret=st.integers(min_value=1, max_value=SECP256K1_N - 1),
    # Free text plus a random tag: free text alone may be a substring of the program's own
    # output (Hypothesis draws string constants from the code, e.g. "wrong_passphrase").
    passphrase=st.builds(
        lambda text, tag: f"{text}:{tag.hex()}",
        st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=20),
        st.binary(min_size=8, max_size=8),
    ),
    label=st.text(alphabet="abcdefgh -", min_size=1, max_size=10).filter(str.strip),
)
def test_the_private_key_never_leaks(
    tmp_path_factory: pytest.TempPathFactory, secret: int, passphrase: str, label: str
) -> None:
    base = tmp_path_factory.mktemp("leak")
    key_hex = f"{secret:064x}"
    forms = {key_hex, key_hex.upper(), "0x" + key_hex}
    address = Account.from_key(bytes.fromhex(key_hex)).address
    outside = base / "outside"
    outside.mkdir()
    key_file = outside / "key.hex"
    key_file.write_text(key_hex)
    pw_file = outside / "pw"
    pw_file.write_text(passphrase)
    data = base / "data"
    outputs: list[str] = []

    def cli(*args: str, stdin: str | None = None, check: bool = True) -> None:
        proc = run(data, *args, stdin=stdin, check=check)
        outputs.append(proc.stdout + proc.stderr)

    cli(
        "keys",
        "import",
        "--key-file",
        str(key_file),
        "--label",
        label,
        "--password-file",
        str(pw_file),
        "--unsafe-light-kdf",
    )
    cli(
        "keys",
        "import",
        "--key-file",
        str(key_file),
        "--password-file",
        str(pw_file),
        "--unsafe-light-kdf",
        check=False,
    )  # refused: already there
    cli("keys", "list")
    cli("keys", "list", "--json")
    cli("keys", "new", "--password-file", str(pw_file), "--unsafe-light-kdf", "--json")
    cli("keys", "export", address, "-o", str(outside / "export.json"))
    wrong = outside / "wrong"
    wrong.write_text(passphrase + "x")
    cli(
        "keys",
        "import",
        "--keystore",
        str(outside / "export.json"),
        "--password-file",
        str(wrong),
        check=False,
    )  # wrong passphrase
    cli(
        "keys",
        "import",
        "--unsafe-light-kdf",
        stdin=f"{key_hex}\n{passphrase}\n{passphrase}\n",
        check=False,
    )  # from the prompt; refused as a duplicate
    text = "\n".join(outputs)
    for form in forms:
        assert form not in text
    assert passphrase not in text
    keystore = data / "keys" / f"{address}.json"
    assert keystore.is_file()
    # Nothing in the data directory holds the key in the clear: not the keystore either.
    stored = all_text_under(data, skip=set())
    for form in forms:
        assert form.lower() not in stored.lower()
    assert passphrase not in stored
    # The keystore decrypts to exactly that key.
    assert load_signer(light(data), address, passphrase).key.hex() == key_hex
    reached()

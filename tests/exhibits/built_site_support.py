"""A small mixed collection registered through the real CLI (tests/cli_runner.py: the session's
anvil and the embedded IPFS node), and the exhibit ``heritage exhibit build`` makes of it, for
the end-to-end browser tests.

The collection: the Stanford bunny as a binary PLY (a range scan: no normals), the Utah teapot
as a textured GLB (the CACM cover as its JPEG texture, with EXIF), a photograph (JPEG with EXIF),
an oral history (Ogg Opus made with PyAV, tags in every field), a PDF (an "other" file, shown by
its poster), each with a description in English and Māori and public CC BY terms; and one item
under TK Secret/Sacred terms, sealed when registered, that the exhibit must not show.
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from PIL import Image

from tests.cli_runner import run_heritage
from tests.exhibits.build_support import sacred_terms
from tests.exhibits.media_support import FORMATS, make_recording
from tests.exhibits.model_masters import arrays, jpeg_with_exif, ply, real_masters
from tests.registry_support import CLI_PASSPHRASE, Chain
from tests.rights_support import public_terms, write_terms

__all__ = [
    "BUNNY_FACE_BUDGET",
    "FACE_BUDGET",
    "LANGUAGES",
    "NAMES",
    "Built",
    "build_collection",
    "pdf_bytes",
]

LANGUAGES: Final = ("en", "mi")
#: The shown items by short name, and the excluded one (``sacred``).
#: The spec's ``[models]`` face budget, and the bunny's own (``[models.item."<its id>"]``).
FACE_BUDGET: Final = 3000
BUNNY_FACE_BUDGET: Final = 2000
NAMES: Final = ("bunny", "teapot", "photo", "waiata", "letter")


def pdf_bytes(text: str) -> bytes:
    """A one-page PDF with ``text`` on it (hand-written objects and a correct xref table)."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode()
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _photo() -> bytes:
    """A 480×320 photograph-like JPEG (a gradient and a red band) with EXIF and a GPS block."""
    image = Image.new("RGB", (480, 320))
    image.putdata([(x // 2, 120 + y // 4, 200 - x // 3) for y in range(320) for x in range(480)])
    for x in range(480):
        for y in range(140, 180):
            image.putpixel((x, y), (220, 30, 30))
    exif = Image.Exif()
    exif[0x010E] = "private camera description"
    exif[0x013B] = "private photographer"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "S", 2: (36.0, 50.0, 54.6), 3: "E", 4: (174.0, 45.0, 48.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def _description(title: tuple[str, str], text: tuple[str, str], **more: Any) -> dict[str, Any]:
    return {
        "type": "heritage/description",
        "version": 1,
        "title": dict(zip(LANGUAGES, title, strict=True)),
        "description": dict(zip(LANGUAGES, text, strict=True)),
        "alt_text": {"en": f"{title[0]}, as exhibited"},
        **more,
    }


@dataclass(frozen=True, slots=True)
class Built:
    """The registered collection and its built site: the CLI's environment, each item's id
    (``0x`` + claim key) and master CID by short name, the site folder and the spec."""

    env: dict[str, str]
    ids: dict[str, str]
    cids: dict[str, str]
    site: Path
    spec: Path
    data: Path
    folder: Path
    build_output: str

    def run(self, *args: str) -> Any:
        """``heritage ARGS`` in this collection's data directory (the completed process)."""
        return run_heritage(args, env=self.env)


def _run(env: dict[str, str], *args: str) -> Any:
    proc = run_heritage(args, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, f"heritage {' '.join(args)}: {proc.stderr}"
    return proc


def build_collection(chain: Chain, folder: Path) -> Built:
    """Register the collection on ``chain`` through the CLI, then build its exhibit into
    ``folder / "site"`` with ``heritage exhibit build``."""
    data = folder / "data"
    password = folder / "pw"
    password.write_text(CLI_PASSPHRASE + "\n")
    env = {
        "HERITAGE_DATA_DIR": str(data),
        "HERITAGE_RPC_URL": chain.settings.rpc_url,
        "HERITAGE_DEPLOYMENT": str(chain.deployment),
        "HERITAGE_FSYNC": "false",
    }
    pw = ("--password-file", str(password))

    def as_json(*args: str) -> Any:
        return json.loads(_run(env, *args, "--json").stdout)

    holders = sorted(
        (as_json("keys", "new", *pw, "--unsafe-light-kdf")["address"] for _ in range(2)),
        key=lambda a: int(a, 16),
    )
    name = f"Reef-{uuid.uuid4().hex[:8]}"
    created = as_json("community", "create", name, "-t", "1", "-k", holders[0], "-k",
                      holders[1], *pw)  # fmt: skip
    community = bytes.fromhex(created["id"][2:])
    public = write_terms(folder / "public.json", public_terms(community))
    sacred = write_terms(folder / "sacred.json", sacred_terms(community))

    files = folder / "masters"
    files.mkdir()
    bunny_v, bunny_f = arrays("bunny")
    teapot, _ = real_masters()["teapot-glb-textured"]
    recipe = next(r for r in FORMATS if r.name == "ogg-opus")
    masters: dict[str, tuple[str, bytes]] = {
        "bunny": ("bunny.ply", ply(bunny_v, bunny_f)),
        "teapot": ("teapot.glb", teapot),
        "photo": ("harbour.jpg", _photo()),
        "waiata": ("waiata.opus", make_recording(recipe, seconds=2.0)),
        "letter": ("letter.pdf", pdf_bytes("Letter from the harbour master, 1911")),
        "sacred": ("sacred-stone.jpg", jpeg_with_exif(Image.new("RGB", (64, 48), (9, 9, 9)))),
    }
    descriptions = {
        "bunny": _description(
            ("Stanford bunny", "Rāpeti o Stanford"),
            ("A range scan of a clay rabbit.", "He matawai o te rāpeti uku."),
            subjects=["scans"],
            date="1994",
        ),
        "teapot": _description(
            ("Utah teapot", "Tīpāta o Utah"),
            ("Newell's teapot, with the CACM cover as its glaze.", "Te tīpāta a Newell."),
            subjects=["ceramics"],
            date="1975",
        ),
        "photo": _description(
            ("Harbour at dusk", "Te whanga i te ahiahi"),
            ("A photograph of the harbour.", "He whakaahua o te whanga."),
            place={"name": "Waitematā", "lat": -36.8485, "lon": 174.7633},
        ),
        "waiata": _description(
            ("Waiata of the reef", "Waiata o te toka"),
            ("A song recorded on the shore.", "He waiata i hopukina."),
            transcript={"en": "La la la", "mi": "Rā rā rā"},
        ),
        "letter": _description(
            ("Harbour master's letter", "Reta a te kaitiaki whanga"),
            ("A letter of 1911.", "He reta nō 1911."),
            date="1911",
        ),
        "sacred": _description(
            ("Sacred stone of the ancestors", "Kōhatu tapu"),
            ("Never to be shown.", "Kaua rawa e whakaaturia."),
        ),
    }
    ids: dict[str, str] = {}
    cids: dict[str, str] = {}
    for short, (file_name, master) in masters.items():
        path = files / file_name
        path.write_bytes(master)
        document = folder / f"{short}.description.json"
        document.write_text(json.dumps(descriptions[short], ensure_ascii=False), "utf-8")
        terms = sacred if short == "sacred" else public
        # The letter is registered as Kubo's `ipfs add` names a file by default (CIDv0):
        # an exhibit shows content whatever CID it was registered under.
        v0 = ["--cid-version", "0"] if short == "letter" else []
        (registered,) = as_json("item", "register", str(path), "-c", name, "--terms",
                                str(terms), "--description", str(document), *v0, *pw)  # fmt: skip
        ids[short] = registered["item"]
        cids[short] = registered["cid"]

    spec = folder / "reef.toml"
    spec.write_text(
        'title = { en = "Voices of the Reef", mi = "Ngā Reo o te Toka" }\n'
        'languages = ["en", "mi"]\n'
        f"[select]\ncommunities = [{json.dumps(name)}]\n"
        # The exhibit's face budget leaves the teapot (992 faces) whole; the bunny's own entry
        # (3,674 faces) has it simplified.
        f"[models]\nface_budget = {FACE_BUDGET}\n"
        f'[models.item."{ids["bunny"]}"]\nface_budget = {BUNNY_FACE_BUDGET}\n',
        "utf-8",
    )
    site = folder / "site"
    built = _run(env, "exhibit", "build", str(spec), "-o", str(site), "--json")
    return Built(env, ids, cids, site, spec, data, folder, built.stdout)

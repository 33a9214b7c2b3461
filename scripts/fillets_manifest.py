#!/usr/bin/env python3
"""Builds the Dutch speech corpus `fillets-nl` from the Fish Fillets NG voice pack: the Debian
packages `fillets-ng-data-nl` (the Ogg Vorbis voices) and `fillets-ng-data` (the Lua scripts
that hold every language's subtitles), each unpacked with `dpkg-deb -x`.

How the game pairs a voice with its text (script/share/level_dialog.lua): a file
script/<dir>/<prefix>dialogs_nl.lua holds lines

    dialogId("vit-m-hlava", "font_small", "<English prime subtitle>")
    dialogStr("<Dutch subtitle>")

and the voice of dialog <id> is sound/<dir>/nl/<id>.ogg. Level scripts (dialogs_, demo_,
brief_) speak from sound/<level>/; the shared scripts of script/share/ from the folders that
script/share/*.lua name in dialogLoad (SHARE below). The speaker is the subtitle font:
`font_small` is the small fish, `font_big` the big one; the Dutch pack voices only the two fish.

Writes OUT/ogg/<dir>/<id>.ogg (copies, so OUT stands alone) and OUT/manifest.tsv
(`ogg/<dir>/<id>.ogg<TAB>transcript<TAB>speaker`, sorted by path). The transcript is the Dutch
subtitle as spoken, with case kept; characters other than letters (accented ones included),
digits, apostrophes within words, hyphens within words and spaces become spaces. Dialogs with
no voice, voices with no Dutch subtitle and voices with no audio are skipped and counted. The sha256 of the manifest
is printed.

    python3 scripts/fillets_manifest.py --out data/fillets-nl EXTRACTED_NL EXTRACTED_DATA

Each root is a `dpkg-deb -x` folder (or the fillets-ng folder itself). Called by
`scripts/fetch-data.sh fillets-nl`. Python standard library only.
"""
import argparse
import collections
import hashlib
import os
import re
import shutil
import struct
import sys

# Sound folder (under sound/) of each shared dialog file prefix of script/share/.
SHARE = {
    "bore_": "share/borejokes",
    "black_": "share/blackjokes",
    "border_": "share/border",
    "shout_": "share/border",
    "intro_": "share/intro",
}

LITERAL = r'"((?:[^"\\]|\\.)*)"'
DIALOG = re.compile(r"dialogId\(\s*" + LITERAL + r"\s*,\s*" + LITERAL + r"\s*,\s*" + LITERAL
                    + r"\s*\)\s*(?:dialogStr\(\s*" + LITERAL + r"\s*\))?", re.S)
LUA_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "", "b": "", "f": "", "v": ""}


def lua_string(body):
    """The value of a Lua double-quoted literal's body: \\n, \\t, \\ddd; any other \\c is c."""
    def repl(m):
        c = m.group(1)
        if c.isdigit():
            return chr(int(c))
        return LUA_ESCAPES.get(c, c)
    return re.sub(r"\\(\d{1,3}|.)", repl, body, flags=re.S)


def normalise(text):
    """Letters, digits, in-word apostrophes and hyphens, single spaces; case is kept."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    text = "".join(c if c.isalnum() or c in "'-" else " " for c in text)
    # Hyphens only between letters or digits ("D-d-daar", "Coca-Cola"), apostrophes only next
    # to a letter ("z'n", "auto's", "'t"); dashes and quotation marks go.
    text = re.sub(r"(?<![^\W_])-|-(?![^\W_])", " ", text)
    text = re.sub(r"(?<![^\W\d_])'(?![^\W\d_])", " ", text)
    return " ".join(text.split())


def game_folder(root):
    for candidate in (root, os.path.join(root, "usr/share/games/fillets-ng")):
        if os.path.isdir(os.path.join(candidate, "script")) or \
                os.path.isdir(os.path.join(candidate, "sound")):
            return candidate
    sys.exit(f"error: {root} holds neither script/ nor usr/share/games/fillets-ng/")


def read_dialogs(folders, lang):
    """{(sound dir, id): (font, subtitle or None)} from every <prefix>dialogs_<lang>.lua."""
    dialogs = {}
    suffix = f"dialogs_{lang}.lua"
    for folder in folders:
        scripts = os.path.join(folder, "script")
        if not os.path.isdir(scripts):
            continue
        for level in sorted(os.listdir(scripts)):
            path = os.path.join(scripts, level)
            if not os.path.isdir(path):
                continue
            for name in sorted(os.listdir(path)):
                if not name.endswith(suffix):
                    continue
                prefix = name[:-len(suffix)]
                if level == "share":
                    if prefix not in SHARE:
                        print(f"warning: no sound folder known for script/share/{name}",
                              file=sys.stderr)
                        continue
                    sound_dir = SHARE[prefix]
                else:
                    sound_dir = level
                with open(os.path.join(path, name), encoding="utf-8") as f:
                    source = f.read()
                for m in DIALOG.finditer(source):
                    ident, font, _prime, subtitle = m.groups()
                    subtitle = None if subtitle is None else lua_string(subtitle)
                    dialogs[(sound_dir, lua_string(ident))] = (lua_string(font), subtitle)
    return dialogs


def read_voices(folders, lang):
    """{(sound dir, file stem): path} of every sound/<dir>/<lang>/<stem>.ogg."""
    voices = {}
    for folder in folders:
        sounds = os.path.join(folder, "sound")
        for dirpath, _dirs, files in os.walk(sounds):
            if os.path.basename(dirpath) != lang:
                continue
            sound_dir = os.path.relpath(os.path.dirname(dirpath), sounds).replace(os.sep, "/")
            for name in files:
                if name.endswith(".ogg"):
                    voices[(sound_dir, name[:-4])] = os.path.join(dirpath, name)
    return voices


def ogg_seconds(path):
    """Duration of an Ogg Vorbis file: the last page's granule position over the sample rate
    of the identification header; None where the file is not one."""
    with open(path, "rb") as f:
        head = f.read(4096)
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 65536))
        tail = f.read()
    ident = head.find(b"\x01vorbis")
    last = tail.rfind(b"OggS")
    if ident < 0 or last < 0 or last + 14 > len(tail):
        return None
    rate = struct.unpack_from("<I", head, ident + 12)[0]
    granule = struct.unpack_from("<q", tail, last + 6)[0]
    return granule / rate if rate and granule >= 0 else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("roots", nargs="+", help="dpkg-deb -x folders of the two packages")
    ap.add_argument("--out", required=True, help="output folder (ogg/ and manifest.tsv)")
    ap.add_argument("--lang", default="nl", help="voice language (default nl)")
    args = ap.parse_args()

    folders = [game_folder(r) for r in args.roots]
    dialogs = read_dialogs(folders, args.lang)
    voices = read_voices(folders, args.lang)
    if not dialogs or not voices:
        sys.exit(f"error: found {len(dialogs)} {args.lang} dialogs and {len(voices)} voices")

    rows, seconds, unknown = [], 0.0, 0
    skipped = collections.Counter()
    for (sound_dir, stem), path in sorted(voices.items()):
        # A voice whose name is no dialog id is one the game never plays: the Dutch pack has
        # barrel/nl/bar_v_fotka.ogg, a shorter take of bar-v-fotka beside bar-v-fotka.ogg.
        key = (sound_dir, stem)
        if key not in dialogs:
            skipped["voice without a subtitle"] += 1
            print(f"skip: sound/{sound_dir}/{args.lang}/{stem}.ogg has no subtitle",
                  file=sys.stderr)
            continue
        font, subtitle = dialogs[key]
        text = normalise(subtitle or "")
        if not text:
            skipped["voice with an empty subtitle"] += 1
            continue
        length = ogg_seconds(path)
        if length == 0:
            # Two Dutch voices (elevator1 zd1-m-cesta, gems zav-v-sto) are Vorbis headers with
            # no audio at all.
            skipped["empty voice"] += 1
            print(f"skip: sound/{sound_dir}/{args.lang}/{stem}.ogg holds no audio",
                  file=sys.stderr)
            continue
        if length is None:
            unknown += 1
        else:
            seconds += length
        speaker = font[len("font_"):] if font.startswith("font_") else font or "unknown"
        rows.append((f"ogg/{sound_dir}/{stem}.ogg", path, text, speaker))
    skipped["subtitle without a voice"] = sum(1 for k in dialogs if k not in voices)

    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    for rel, path, _text, _speaker in rows:
        dest = os.path.join(args.out, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(path, dest)
    rows.sort()
    manifest = "".join(f"{rel}\t{text}\t{speaker}\n" for rel, _p, text, speaker in rows)
    with open(os.path.join(args.out, "manifest.tsv"), "w", encoding="utf-8", newline="\n") as f:
        f.write(manifest)

    speakers = collections.Counter(r[3] for r in rows)
    print(f"{len(rows)} utterances, {seconds / 60:.1f} minutes of audio"
          + (f" ({unknown} files of unknown length)" if unknown else ""))
    print("speakers: " + ", ".join(f"{s} {n}" for s, n in sorted(speakers.items())))
    print("skipped: " + ", ".join(f"{n} {why}" for why, n in sorted(skipped.items())))
    print("manifest sha256 "
          + hashlib.sha256(manifest.encode("utf-8")).hexdigest())


if __name__ == "__main__":
    main()

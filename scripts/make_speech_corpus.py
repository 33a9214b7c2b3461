#!/usr/bin/env python3
"""Synthesises the English speech corpus `speech-en` with espeak-ng (Debian `espeak-ng`):
lines of the Shakespeare corpus plus digit strings and numbers in words, each spoken by one of
77 voices (7 English accents x the variants m1..m7 and f1..f4) at a random speed and pitch.

Writes OUT/wav/NNNNN.wav (22,050 Hz mono 16-bit, as espeak-ng writes them) and
OUT/manifest.tsv (`wav/NNNNN.wav<TAB>transcript<TAB>voice`); rnnzoo's speech task splits it
by whole voices, so the test split measures voices the model never heard. Everything is drawn
from --seed: the same seed and Shakespeare text give the same manifest (its sha256 is printed).

    python3 scripts/make_speech_corpus.py --shakespeare data/shakespeare --out data/speech-en

Called by `scripts/fetch-data.sh speech-en`; needs `apt-get install espeak-ng`.
"""
import argparse
import hashlib
import os
import random
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd", "en-029"]
VARIANTS = [f"m{i}" for i in range(1, 8)] + [f"f{i}" for i in range(1, 5)]
ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen " \
       "fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n):
    """English words of 0 <= n < 1,000,000 (no "and")."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        rest = "" if n % 100 == 0 else " " + number_words(n % 100)
        return ONES[n // 100] + " hundred" + rest
    rest = "" if n % 1000 == 0 else " " + number_words(n % 1000)
    return number_words(n // 1000) + " thousand" + rest


def shakespeare_lines(folder):
    """Verse and prose lines of 3-9 words, lower-cased, letters, apostrophes and spaces only."""
    out = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith("_gut.txt"):
            continue
        with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                # Speaker names and headings are upper case; stage directions are bracketed.
                if not line or line.isupper() or line.startswith(("[", "<", "Enter", "Exit")):
                    continue
                text = re.sub(r"[^a-z' ]+", " ", line.lower().replace("-", " "))
                text = re.sub(r"\s*'\s+|\s+'\s*|^'|'$", " ", text)
                words = text.split()
                if 3 <= len(words) <= 9:
                    out.append(" ".join(words))
    return sorted(set(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shakespeare", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    lines = shakespeare_lines(args.shakespeare)
    rng.shuffle(lines)
    utterances = []
    for i in range(args.count):
        kind = rng.random()
        if kind < 0.1:
            text = " ".join(ONES[rng.randrange(10)] for _ in range(rng.randint(3, 7)))
        elif kind < 0.2:
            text = number_words(rng.randrange(1, 100000))
        else:
            text = lines[i % len(lines)]
        voice = f"{rng.choice(ACCENTS)}+{rng.choice(VARIANTS)}"
        speed = rng.randint(130, 190)
        pitch = rng.randint(25, 75)
        utterances.append((f"wav/{i:05d}.wav", text, voice, speed, pitch))
    os.makedirs(os.path.join(args.out, "wav"), exist_ok=True)

    def speak(u):
        path, text, voice, speed, pitch = u
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch),
                        "-w", os.path.join(args.out, path), text], check=True)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(speak, utterances))
    manifest = "".join(f"{p}\t{t}\t{v}\n" for p, t, v, _, _ in utterances)
    with open(os.path.join(args.out, "manifest.tsv"), "w", encoding="utf-8") as f:
        f.write(manifest)
    digest = hashlib.sha256(manifest.encode("utf-8")).hexdigest()
    voices = len({u[2] for u in utterances})
    print(f"{len(utterances)} utterances by {voices} voices in {args.out}; manifest sha256 {digest}")


if __name__ == "__main__":
    main()

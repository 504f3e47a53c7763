#!/usr/bin/env python3
"""Helpers for run.sh (standard library only).

  report.py html-only GOLD.jsonl.gz OUT.jsonl.gz   copy the records whose `html` is not null
  report.py readable-gold GOLD.jsonl.gz OUT.jsonl.gz
                                                   copy the records whose gold main text is readable: not
                                                   UTF-16 read as 8-bit text (NUL bytes between letters),
                                                   which makes the silver labels call the article boilerplate
  report.py table OUT_DIR                          print the summary table of the score.py --save files
"""
import gzip
import json
import os
import platform
import sys
from importlib import metadata

EXTRACTORS = ('trafilatura', 'trafilatura-comments', 'readability', 'justext')
# (evaluation set as run.sh names its scores, the benchmark file whose predictions it scores)
SETS = (('dragnet', 'dragnet'), ('dragnet-test', 'dragnet'), ('wcxb-dev-html', 'wcxb-dev'))


def html_only(src, dst):
    kept = dropped = 0
    with gzip.open(src, 'rt', encoding='utf-8') as fin, gzip.open(dst, 'wt', encoding='utf-8') as fout:
        for line in fin:
            if line.strip():
                if json.loads(line).get('html') is None:
                    dropped += 1
                else:
                    kept += 1
                    fout.write(line if line.endswith('\n') else line + '\n')
    print(f'{os.path.basename(dst)}: {kept} pages with html ({dropped} without left out)', file=sys.stderr)


def readable_gold(src, dst):
    kept = dropped = 0
    with gzip.open(src, 'rt', encoding='utf-8') as fin, gzip.open(dst, 'wt', encoding='utf-8') as fout:
        for line in fin:
            if not line.strip():
                continue
            r = json.loads(line)
            if '\x00' in (r.get('gold_main_text') or ''):
                dropped += 1
                print(f'  left out {r["id"]} ({r.get("site")}): gold main text is UTF-16 read as 8-bit text',
                      file=sys.stderr)
            else:
                kept += 1
                fout.write(line if line.endswith('\n') else line + '\n')
    print(f'{os.path.basename(dst)}: {kept} pages ({dropped} with an unreadable gold main text left out)',
          file=sys.stderr)


def fmt(x):
    return '-' if x is None else f'{x:.3f}'


def load(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def extractor_stats(text_file):
    """(pages, pages where the extractor raised, mean extractor ms per page) from an extract.py --out-text file."""
    pages = errors = 0
    secs = 0.0
    with open(text_file, encoding='utf-8') as f:
        for line in f:
            r = json.loads(line)
            pages += 1
            errors += 'error' in r
            secs += r.get('seconds', 0.0)
    return pages, errors, 1000 * secs / max(pages, 1)


def table(out_dir):
    """One row per (evaluation set, subset, extractor), from OUT_DIR/scores/{set}.{extractor}.{para,extr}.json."""
    walls = {}
    if os.path.exists(os.path.join(out_dir, 'wall.tsv')):
        with open(os.path.join(out_dir, 'wall.tsv'), encoding='utf-8') as f:
            for line in f:
                ex, data, sec = line.split()
                walls[ex, data] = float(sec)
    head = ('| set | subset | extractor | docs | bp_P | bp_R | bp_F1 | ed_loss | bp_leak | extr mean_F1 '
            '| errors | wall s | ms/page |')
    rows = [head, '|' + '---|' * (head.count(' | ') + 1)]
    for s, data in SETS:
        runs = [(ex, os.path.join(out_dir, 'scores', f'{s}.{ex}')) for ex in EXTRACTORS]
        runs = [(ex, load(b + '.para.json'), load(b + '.extr.json'), extractor_stats(
            os.path.join(out_dir, f'{ex}.{data}.text.jsonl'))) for ex, b in runs if os.path.exists(b + '.para.json')]
        for sub in ('all', 'sites>=5'):
            for ex, para, extr, (_, errors, ms) in runs:
                m = para['subsets'][sub]
                c = m['chars']
                rows.append(f'| {s} | {sub} | {ex} | {m["docs"]} | {fmt(c["bp_P"])} | {fmt(c["bp_R"])} '
                            f'| {fmt(c["bp_F1"])} | {fmt(c["editorial_loss"])} | {fmt(c["boilerplate_leak"])} '
                            f'| {fmt(extr["subsets"][sub]["mean_F1"])} | {errors} | {walls.get((ex, data), 0):.0f} '
                            f'| {ms:.0f} |')
    versions = ', '.join(f'{p} {metadata.version(p)}' for p in ('trafilatura', 'readability-lxml', 'jusText', 'lxml'))
    print(f'Extractors: {versions}; Python {platform.python_version()}.\n')
    print('\n'.join(rows))
    print('\nParagraph track: character-weighted figures of score.py. Extraction track: mean per-page F1 of '
          'score.py --extraction. errors: pages where the extractor raised (scored as an empty extract). '
          'wall s: the whole extract.py run on the file; ms/page: mean extractor time per page with html.')


def main(argv):
    if len(argv) == 3 and argv[0] == 'html-only':
        html_only(argv[1], argv[2])
    elif len(argv) == 3 and argv[0] == 'readable-gold':
        readable_gold(argv[1], argv[2])
    elif len(argv) == 2 and argv[0] == 'table':
        table(argv[1])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
r"""Run one per-page main-text extractor over a benchmark file and write predictions for both score.py tracks.

  extract.py --extractor {trafilatura,trafilatura-comments,readability,justext} --input FILE.jsonl.gz \
             --out-labels P.jsonl --out-text T.jsonl

trafilatura runs with include_comments=False, trafilatura-comments with include_comments=True (trafilatura's
own default); everything else is left at the extractors' defaults.
For every page whose `html` is not null (pages without html get no line at all):
  T.jsonl  extraction track   {"id", "text": extracted main text, "seconds": extractor time, ["error": ...]}
  P.jsonl  paragraph track    {"id", "labels": [one per gold paragraph]}
A gold paragraph (text.split("\n\n")) is "editorial" when it is found in the extract, else "boilerplate".
Words are score.py's tokens (lowercased \w+ runs). Found means:
  * 3 words or more: at least half of the paragraph's word 3-grams occur among the extract's word 3-grams;
  * under 3 words (also no word at all): the paragraph is a substring of the extract, both lowercased with
    whitespace runs collapsed to one space (a plain substring: "home" is found in "homepage").
An extractor exception is counted and the page gets an empty extract (all its paragraphs boilerplate).
"""
import argparse
import gzip
import json
import logging
import re
import sys
import time

WORD = re.compile(r'\w+')
# Elements after which readability's summary html gets a line break, so that words do not run together.
BLOCK = {'address', 'article', 'aside', 'blockquote', 'br', 'dd', 'div', 'dl', 'dt', 'figcaption', 'figure',
         'footer', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'header', 'hr', 'li', 'main', 'ol', 'p', 'pre',
         'section', 'table', 'td', 'th', 'tr', 'ul'}


def make_extractor(name):
    """A function html -> extracted main text, with the extractor's default settings."""
    if name in ('trafilatura', 'trafilatura-comments'):
        import trafilatura

        comments = name == 'trafilatura-comments'  # trafilatura's own default is include_comments=True
        return lambda html: trafilatura.extract(html, include_comments=comments) or ''
    if name == 'readability':
        import lxml.html
        from readability import Document

        def readability_text(html):
            root = lxml.html.fromstring(Document(html).summary())
            for el in root.iter():
                if isinstance(el.tag, str) and el.tag.lower() in BLOCK:
                    el.tail = '\n' + (el.tail or '')
            lines = (' '.join(line.split()) for line in root.text_content().splitlines())
            return '\n'.join(line for line in lines if line)

        return readability_text
    if name == 'justext':
        import justext

        stoplist = justext.get_stoplist('English')
        return lambda html: '\n\n'.join(p.text for p in justext.justext(html, stoplist) if not p.is_boilerplate)
    raise ValueError(f'unknown extractor {name!r}')


def label_paragraphs(text, extract):
    """One label per gold paragraph of `text`: editorial when the paragraph is found in `extract`."""
    extract = extract.lower()
    toks = WORD.findall(extract)
    grams = set(zip(toks, toks[1:], toks[2:]))
    flat = ' '.join(extract.split())
    labels = []
    for para in text.split('\n\n') if text else []:
        words = WORD.findall(para.lower())
        if len(words) >= 3:
            pg = list(zip(words, words[1:], words[2:]))
            found = 2 * sum(g in grams for g in pg) >= len(pg)
        else:
            found = ' '.join(para.lower().split()) in flat
        labels.append('editorial' if found else 'boilerplate')
    return labels


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--extractor', required=True,
                    choices=('trafilatura', 'trafilatura-comments', 'readability', 'justext'))
    ap.add_argument('--input', required=True, help='benchmark JSONL (.gz allowed)')
    ap.add_argument('--out-labels', required=True, help='paragraph-track predictions (JSONL)')
    ap.add_argument('--out-text', required=True, help='extraction-track predictions (JSONL)')
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # the extractors' own warnings would drown the progress lines
    extract = make_extractor(a.extractor)
    opener = gzip.open if a.input.endswith('.gz') else open
    pages = skipped = errors = 0
    spent = 0.0
    start = time.monotonic()
    with opener(a.input, 'rt', encoding='utf-8') as fin, \
            open(a.out_labels, 'w', encoding='utf-8') as flab, open(a.out_text, 'w', encoding='utf-8') as ftxt:
        for line in fin:
            if not line.strip():
                continue
            doc = json.loads(line)
            if doc.get('html') is None:
                skipped += 1
                continue
            pages += 1
            rec = {'id': doc['id']}
            t0 = time.perf_counter()
            try:
                text = extract(doc['html'])
            except Exception as e:  # one bad page must not stop the run
                errors += 1
                text = ''
                rec['error'] = f'{type(e).__name__}: {e}'[:200]
            rec['seconds'] = round(time.perf_counter() - t0, 4)
            spent += rec['seconds']
            ftxt.write(json.dumps({**rec, 'text': text}, ensure_ascii=False) + '\n')
            flab.write(json.dumps({'id': doc['id'], 'labels': label_paragraphs(doc.get('text') or '', text)}) + '\n')
            if pages % 100 == 0:
                print(f'{a.extractor}: {pages} pages, {errors} errors, {time.monotonic() - start:.0f} s',
                      file=sys.stderr, flush=True)
    print(f'{a.extractor} {a.input}: {pages} pages with html, {skipped} without (no line), {errors} errors, '
          f'extraction {spent:.1f} s, total {time.monotonic() - start:.1f} s', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""The Python client against a real chaff server on an ephemeral port.

CHAFF_BIN names the binary (default: target/debug/chaff, else
target/release/chaff, of this checkout).
"""
import asyncio
import os
import pathlib
import subprocess
import sys
import unittest

import grpc

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from chaff_client import ChaffError, Client  # noqa: E402
from chaff_client.aio import AsyncClient  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[3]

APPEAL = [
    "Dear readers, we are asking you to stand with independent journalism. More people read us than ever.",
    "Support us monthly from just 5 dollars and help keep our journalism open to everyone.",
]
STORIES = [
    "The council voted on Tuesday to close the old library, which had served the town for a century.",
    "Repairs to the river bridge finished two weeks early, the county engineer said on Monday morning.",
    "Farmers across the valley warn that a dry spring will cut this summer's harvest by a third.",
    "The ferry operator will raise fares by five percent from July to pay for two new boats.",
]

# Stories of another outlet: the tests share one server, and a story two
# outlets both carry would be syndicated.
OTHER_STORIES = [
    "A new cycle lane along the harbour road opens next month after two years of planning and protest.",
    "The school board approved a longer lunch break for younger pupils starting in the autumn term.",
    "Volunteers planted four hundred oak saplings on the hillside burned in last summer's fire.",
    "The museum will show a collection of maritime maps that has not left its vault since 1952.",
    "Night buses will run every twenty minutes on weekends from the central station to the suburbs.",
]


def binary() -> str:
    if os.environ.get("CHAFF_BIN"):
        return os.environ["CHAFF_BIN"]
    for profile in ("debug", "release"):
        p = ROOT / "target" / profile / "chaff"
        if p.exists():
            return str(p)
    raise unittest.SkipTest("no chaff binary: run cargo build first or set CHAFF_BIN")


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = subprocess.Popen([binary(), "serve", "--listen", "127.0.0.1:0", "--ephemeral"],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = cls.server.stdout.readline()
        if not line.startswith("listening on "):
            cls.server.kill()
            raise RuntimeError(f"server did not start: {line!r}")
        cls.address = line.split()[-1]
        cls.client = Client(cls.address, timeout=10)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.terminate()
        cls.server.wait(timeout=20)

    def doc(self, i, source="ledger.example", stories=STORIES):
        return {"id": f"{source}/{i}", "source": source, "url": f"https://{source}/{i}",
                "published_at": f"2025-05-0{i + 1}T09:00:00Z", "text": "\n\n".join([stories[i]] + APPEAL)}

    def test_a_streamed_outlet_has_its_appeal_labelled_boilerplate(self):
        results = list(self.client.analyze_stream((self.doc(i) for i in range(4)), batch_size=3))
        self.assertEqual([r["id"] for r in results], [f"ledger.example/{i}" for i in range(4)])
        last = results[-1]
        self.assertEqual([s["label"] for s in last["segments"]], ["editorial", "boilerplate", "boilerplate"])
        self.assertEqual(last["segments"][1]["text"], APPEAL[0])
        self.assertEqual(last["published_at"], "2025-05-04T09:00:00Z")
        # Retroactive: the first page's appeal is boilerplate now too.
        first = self.client.get_document("ledger.example/0")
        self.assertEqual([s["label"] for s in first["segments"]], ["editorial", "boilerplate", "boilerplate"])
        stats = self.client.stats()
        self.assertGreaterEqual(stats["documents"], 4)
        self.assertGreater(stats["memory"]["index"], 0)
        boiler = list(self.client.clusters(source="ledger.example", label="boilerplate"))
        self.assertEqual({c["representative"] for c in boiler}, set(APPEAL))

    def test_a_copy_names_its_first_publisher(self):
        original = {"id": "wire/1", "source": "wire.example", "published_at": "2025-06-01T08:00:00Z",
                    "paragraphs": [STORIES[3]]}
        self.client.analyze(original)
        copy = {"id": "portal/1", "source": "portal.example", "published_at": "2025-06-01T10:00:00Z",
                "paragraphs": [STORIES[3].replace("two new boats", "two new ferries")]}
        got = self.client.analyze(copy, dry_run=True)
        seg = got["segments"][0]
        self.assertEqual(seg["label"], "syndicated")
        self.assertEqual(seg["first_seen"]["id"], "wire/1")
        self.assertEqual(seg["match"], "near")
        with self.assertRaises(ChaffError) as e:
            self.client.get_document("portal/1")  # a dry run stores nothing
        self.assertEqual(e.exception.code, grpc.StatusCode.NOT_FOUND)

    def test_html_comes_back_with_its_extracted_text(self):
        got = self.client.analyze({"id": "page/1", "url": "https://news.example/a",
                                   "html": "<nav>Home</nav><p>Hello <b>world</b>.</p>"}, dry_run=True)
        self.assertEqual(got["text"], "Home\n\nHello world.")
        self.assertEqual(got["source"], "news.example")
        self.assertEqual([s["text"] for s in got["segments"]], ["Home", "Hello world."])

    def test_bad_documents_are_refused_with_a_reason(self):
        with self.assertRaises(ChaffError) as e:
            self.client.analyze({"id": "", "source": "x.example", "text": "no id"})
        self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("id", e.exception.message)
        results = list(self.client.analyze_stream([
            {"id": "ok/1", "source": "y.example", "text": STORIES[0]},
            {"id": "bad/1", "source": "y.example", "text": ""},
        ], dry_run=True))
        self.assertIsInstance(results[0], dict)
        self.assertIsInstance(results[1], ChaffError)
        self.assertEqual(results[1].code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(results[1].document_id, "bad/1")
        with self.assertRaises(ValueError):
            self.client.analyze({"id": "two", "text": "a", "html": "<p>b</p>"})
        with self.assertRaises(ValueError):
            self.client.analyze({"id": "naive", "text": "a", "published_at": "2025-01-01T00:00:00"})

    def test_the_asyncio_client_streams_an_async_iterable_and_reports_refusals(self):
        async def docs():
            for i in range(4):
                yield self.doc(i, source="async.example", stories=OTHER_STORIES)
            yield {"id": "async.example/bad", "source": "async.example", "text": ""}

        async def run():
            async with AsyncClient(self.address, timeout=10) as chaff:
                results = [r async for r in chaff.analyze_stream(docs(), batch_size=2, in_flight=1)]
                one = await chaff.analyze({"id": "async.example/9", "source": "async.example",
                                           "text": "\n\n".join([OTHER_STORIES[4]] + APPEAL)}, dry_run=True)
                stored = await chaff.get_document("async.example/0")
                boiler = [c async for c in chaff.clusters(source="async.example", label="boilerplate")]
                stats = await chaff.stats()
                with self.assertRaises(ChaffError) as e:
                    await chaff.get_document("async.example/missing")
                return results, one, stored, boiler, stats, e.exception

        results, one, stored, boiler, stats, missing = asyncio.run(run())
        self.assertEqual(len(results), 5)
        self.assertEqual([s["label"] for s in results[3]["segments"]], ["editorial", "boilerplate", "boilerplate"])
        self.assertIsInstance(results[4], ChaffError)
        self.assertEqual(results[4].code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual([s["label"] for s in one["segments"]], ["editorial", "boilerplate", "boilerplate"])
        self.assertEqual([s["label"] for s in stored["segments"]], ["editorial", "boilerplate", "boilerplate"])
        self.assertEqual({c["representative"] for c in boiler}, set(APPEAL))
        self.assertGreaterEqual(stats["documents"], 4)
        self.assertEqual(missing.code, grpc.StatusCode.NOT_FOUND)

    def test_a_server_that_is_gone_is_an_error_not_a_hang(self):
        with Client("127.0.0.1:1", timeout=2) as gone:
            with self.assertRaises(ChaffError) as e:
                gone.stats()
            self.assertEqual(e.exception.code, grpc.StatusCode.UNAVAILABLE)


if __name__ == "__main__":
    unittest.main()

#!/usr/bin/env python3
"""Generate the protobuf and gRPC modules of chaff_client from ../../proto.

    python generate.py          # write chaff_client/chaff_pb2*.py(i)
    python generate.py --check  # fail when the committed modules are stale

Needs grpcio-tools (requirements-dev.txt pins the version the committed
modules were made with). The gRPC module's absolute import of the message
module is made relative, so that the package imports from anywhere.
"""
import argparse
import pathlib
import sys
import tempfile

from grpc_tools import protoc
import grpc_tools

HERE = pathlib.Path(__file__).resolve().parent
PROTO = HERE.parent.parent / "proto"
PACKAGE = HERE / "chaff_client"
FILES = ("chaff_pb2.py", "chaff_pb2.pyi", "chaff_pb2_grpc.py")


def generate(out: pathlib.Path) -> None:
    include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        rc = protoc.main([
            "grpc_tools.protoc", f"-I{PROTO}", f"-I{include}", f"--python_out={tmp}",
            f"--pyi_out={tmp}", f"--grpc_python_out={tmp}", str(PROTO / "chaff/v1/chaff.proto"),
        ])
        if rc != 0:
            sys.exit(f"protoc failed ({rc})")
        gen = pathlib.Path(tmp) / "chaff" / "v1"
        for name in FILES:
            text = (gen / name).read_text()
            text = text.replace("from chaff.v1 import chaff_pb2 as", "from . import chaff_pb2 as")
            (out / name).write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the committed modules instead of writing")
    a = ap.parse_args()
    if not a.check:
        generate(PACKAGE)
        return
    with tempfile.TemporaryDirectory() as tmp:
        generate(pathlib.Path(tmp))
        stale = [n for n in FILES if (pathlib.Path(tmp) / n).read_text() != (PACKAGE / n).read_text()]
    if stale:
        sys.exit(f"stale generated modules {stale}: run `python clients/python/generate.py`")
    print("generated modules match proto/")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the small committed seed inputs of the libFuzzer targets into fuzz/corpus/<name>/.

    /usr/bin/python3 fuzz/gen_seeds.py

Each seed is a small valid (or deliberately borderline) input of its format, written here
from the format's definition with Python's standard library, NumPy and the onnx package, so
the fuzzers start from inputs that reach deep into each parser. Seeds that other tests
already commit (tests/data/...) are passed to the fuzzers directly (fuzz/CMakeLists.txt).
Inputs that once crashed a parser are kept next to these as crash-* files.
"""
import gzip
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- safetensors-based checkpoints (tandem.checkpoint.v1 metadata)
def safetensors(tensors, metadata):
    header, blobs, off = {}, b"", 0
    for name, a in tensors.items():
        raw = a.tobytes()
        dt = {np.float32: "F32", np.int64: "I64"}[a.dtype.type]
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs += raw
        off += len(raw)
    header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blobs


rng_state = "1234 0 0 " + " ".join(str(i) for i in range(312)) + " 0"
meta = {"format": "tandem.checkpoint.v1", "epoch": "2", "step": "40", "rng_state": rng_state,
        "optimizer.lr": "0.01", "scheduler.last_epoch": "2", "extra.note": "x"}
put("checkpoint", "small.ckpt.safetensors",
    safetensors({"model.w": np.arange(6, dtype=np.float32).reshape(2, 3),
                 "optimizer.state.0.exp_avg": np.zeros(6, dtype=np.float32),
                 "scheduler.steps": np.array([3], dtype=np.int64)}, meta))
put("checkpoint", "rng_state.txt", rng_state)

# ---- IDX: magic 0 0 type ndim, big-endian dims, data
def idx(a, code):
    hdr = bytes([0, 0, code, a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape)
    return hdr + a.astype(a.dtype.newbyteorder(">")).tobytes()


put("idx", "images-u8", idx(np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4), 0x08))
put("idx", "labels-u8", idx(np.array([3, 1, 4], dtype=np.uint8), 0x08))
put("idx", "f32", idx(np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3), 0x0D))
put("idx", "i32", idx(np.array([-1, 2, 70000], dtype=np.int32), 0x0C))
put("idx", "images-u8.gz", gzip.compress(idx(np.arange(8, dtype=np.uint8).reshape(2, 2, 2), 0x08), mtime=0))

# ---- CSV: the harness reads option bits from the first byte
put("csv", "header_target", b"\x03x,y\n1,0\n2.5,1\n")
put("csv", "categorical", b"\x07a,c,y\n1,red,0\n2,\"bl,ue\",1\n3,red,0\n")
put("csv", "quoted_crlf", b"\x01a,b\r\n\"1\",\" 2 \"\r\n\r\n3,4\r\n")
put("csv", "no_header_semicolon", b"\x10" + b"1;2;3\n4;5;6\n")
put("csv", "drop_f64", b"\x29a,d\n1,x\n2,y\n")

# ---- TensorBoard event files: TFRecord framing with masked CRC-32C around Event protos
def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def masked(c):
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def record(payload):
    n = struct.pack("<Q", len(payload))
    return n + struct.pack("<I", masked(crc32c(n))) + payload + struct.pack("<I", masked(crc32c(payload)))


def proto_modules():
    out = tempfile.mkdtemp()
    protos = [os.path.join(ROOT, "proto", p) for p in sorted(os.listdir(os.path.join(ROOT, "proto")))]
    subprocess.check_call(["protoc", "--python_out=" + out, "-I", os.path.join(ROOT, "proto")] + protos)
    sys.path.insert(0, out)
    import tandem_event_pb2  # noqa: E402
    return tandem_event_pb2


event_pb2 = proto_modules()
events = []
e = event_pb2.Event(wall_time=1.5, step=0, file_version="brain.Event:2")
events.append(e.SerializeToString())
e = event_pb2.Event(wall_time=2.0, step=3)
v = e.summary.value.add(tag="train/loss", simple_value=0.25)
events.append(e.SerializeToString())
e = event_pb2.Event(wall_time=2.5, step=4)
v = e.summary.value.add(tag="params/w")
v.histo.min, v.histo.max, v.histo.num = -1.0, 1.0, 3
v.histo.bucket_limit.extend([0.0, 1.0])
v.histo.bucket.extend([1.0, 2.0])
events.append(e.SerializeToString())
e = event_pb2.Event(wall_time=3.0, step=5)
v = e.summary.value.add(tag="samples")
v.image.height, v.image.width, v.image.colorspace = 1, 1, 1
v.image.encoded_image_string = b"\x89PNG"
events.append(e.SerializeToString())
put("events", "events.out.tfevents.1", b"".join(record(p) for p in events))
put("events", "truncated_tail", record(events[0]) + record(events[1])[:-3])

# ---- PNG: signature, IHDR, IDAT (zlib of filtered rows), IEND
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(w, h, color_type, bit_depth, channels, palette=None):
    row = bytes((x * 37) & 0xFF for x in range((w * channels * bit_depth + 7) // 8))
    raw = b"".join(b"\x00" + row for _ in range(h))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0))
    if palette:
        out += chunk(b"PLTE", palette)
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


put("png", "gray8_3x2.png", png(3, 2, 0, 8, 1))
put("png", "rgb8_2x2.png", png(2, 2, 2, 8, 3))
put("png", "rgba16_1x1.png", png(1, 1, 6, 16, 4))
put("png", "palette_4x1.png", png(4, 1, 3, 8, 1, palette=bytes(range(12))))
put("png", "gray1_9x1.png", png(9, 1, 0, 1, 1))

# ---- metrics.jsonl (a resumed run keeps the epochs it does not redo)
put("metrics_jsonl", "run.jsonl",
    '{"epoch":0,"step":10,"train_loss":1.5}\n{"epoch":1,"step":20,"train_loss":0.9}\n'
    '{"epoch":2,"step":30,"train_loss":0.7}\n')
put("metrics_jsonl", "odd_lines.jsonl", '\n{"epoch":"1"}\n[1,2]\n{"epoch":1.5}\n{"epoch":-3}\n{"epo')

# ---- ONNX TensorProto files (+ external data next to them: the harness writes weights.bin)
import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402

put("onnx_tensor", "f32.pb", numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "x").SerializeToString())
put("onnx_tensor", "i64.pb", numpy_helper.from_array(np.array([1, -2, 3], dtype=np.int64), "i").SerializeToString())
t = onnx.helper.make_tensor("typed", onnx.TensorProto.INT32, [2], [7, 8])
put("onnx_tensor", "typed_int32.pb", t.SerializeToString())
t = onnx.TensorProto(name="ext", data_type=onnx.TensorProto.FLOAT, dims=[4], data_location=onnx.TensorProto.EXTERNAL)
for k, v in (("location", "weights.bin"), ("offset", "16"), ("length", "16")):
    t.external_data.add(key=k, value=v)
put("onnx_tensor", "external.pb", t.SerializeToString())

# ---- an ONNX model whose initializer lives in weights.bin (the harness provides it)
w = onnx.TensorProto(name="w", data_type=onnx.TensorProto.FLOAT, dims=[4], data_location=onnx.TensorProto.EXTERNAL)
for k, v in (("location", "weights.bin"), ("offset", "64"), ("length", "16")):
    w.external_data.add(key=k, value=v)
g = onnx.helper.make_graph([onnx.helper.make_node("Add", ["x", "w"], ["y"])], "g",
                           [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [4])],
                           [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [4])], [w])
m = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 13)])
m.ir_version = 8
put("onnx", "external_add.onnx", m.SerializeToString())

# Regression inputs: external data ranges whose offset + length overflows int64 (the range
# check used to form that sum).
for name, off, length in (("external_offset_overflow.pb", str(2**63 - 8), "16"),
                          ("external_length_overflow.pb", "8", str(2**63 - 1)),
                          ("external_negative_length.pb", "0", "-5")):
    t = onnx.TensorProto(name="ext", data_type=onnx.TensorProto.FLOAT, dims=[4],
                         data_location=onnx.TensorProto.EXTERNAL)
    for k, v in (("location", "weights.bin"), ("offset", off), ("length", length)):
        t.external_data.add(key=k, value=v)
    put("onnx_tensor", name, t.SerializeToString())

# ---- PostgreSQL COPY streams (fuzz_sql_copy's framing: format/column-count byte, a type
# byte per column, then length-prefixed messages). Binary format per the COPY docs: the
# PGCOPY signature, flags, header extension, then rows of (field count, (length, bytes)...)
# and the trailer -1.
def copy_stream(text, type_bytes, messages):
    out = bytes([(1 if text else 0) | (len(type_bytes) - 1) << 1]) + bytes(type_bytes)
    for m in messages:
        out += struct.pack("<H", len(m)) + m
    return out


def field(b):
    return struct.pack(">i", -1) if b is None else struct.pack(">i", len(b)) + b


def numeric(ndigits, weight, sign, digits):
    return struct.pack(">hhHH", ndigits, weight, sign, 0) + b"".join(struct.pack(">H", d) for d in digits)


def float_array(values):
    # one dimension, no NULLs, element type float4 (oid 700), lower bound 1
    body = struct.pack(">iiIii", 1, 0, 700, len(values), 1)
    return body + b"".join(struct.pack(">i", 4) + struct.pack(">f", v) for v in values)


header = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">II", 0, 0)
# types (indexes into the harness's kOids): int4, float8, numeric, bytea, float4[]
types = [3, 6, 7, 9, 11]
row1 = struct.pack(">h", 5) + field(struct.pack(">i", 7)) + field(struct.pack(">d", 2.5)) + \
    field(numeric(2, 0, 0, [12, 3400])) + field(b"\x00\x01\xff") + field(float_array([1.0, -2.5]))
row2 = struct.pack(">h", 5) + field(struct.pack(">i", -1)) + field(None) + \
    field(numeric(0, 0, 0xC000, [])) + field(b"") + field(float_array([]))
put("sql_copy", "binary_rows", copy_stream(False, types, [header + row1, row2, struct.pack(">h", -1)]))
put("sql_copy", "text_rows", copy_stream(True, types, [
    b"7\t2.5\t12.34\t\\\\x0001ff\t{1,-2.5}\n", b"-1\t\\N\tNaN\t\\\\x\t{}\n", b"3\t1e3\t-0.5\t\\\\xAB\t{{1,2},{3,4}}\n"]))
put("sql_copy", "bool_int8_text", copy_stream(False, [0, 1, 8], [
    header + struct.pack(">h", 3) + field(b"\x01") + field(struct.pack(">q", -2**63)) + field(b"a\tb"),
    struct.pack(">h", -1)]))

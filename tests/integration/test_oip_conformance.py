#!/usr/bin/python3
# test_oip_conformance.py - gliad's Open Inference Protocol v2 surface checked against the
# protocol itself, not against gliad's own description of it (TAP output).
#
# Usage: test_oip_conformance.py GLIAD GLIA
#   The real gliad on a free loopback port serves the three shipped model families
#   (models/fashion-cnn, models/sentiment-lstm, models/translate-en-es). Every REST route of
#   the protocol is asked, with and without a version, for every family; every answer is
#   validated against JSON Schemas written below from the protocol's text, and every output
#   tensor is checked for shape/datatype/data consistency. Each class of error must give
#   {"error": STRING} with a 4xx. The requests a stock client library builds (tritonclient.http:
#   binary inputs, binary outputs, BYTES length prefixes, classification) must be taken.
#   The last line before the plan is "conformance: N checks passed"; every failure is listed.
#
# Sources of the schemas (read with the search tool; quoted by section):
#   [OIP]  kserve/open-inference-protocol, specification/protocol/inference_rest.md
#   [BIN]  triton-inference-server/server, docs/protocol/extension_binary_data.md
#   [CLS]  triton-inference-server/server, docs/protocol/extension_classification.md
#   [TC]   triton-inference-server/client, src/python/library/tritonclient/http/
#          (_utils.py _get_inference_request, _infer_input.py, _requested_output.py,
#          _infer_result.py): what that client sends and how it reads the answer.
import gzip
import http.client
import json
import math
import os
import struct
import sys
import tempfile
import threading

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_gliad as tg  # noqa: E402  (the Daemon harness, test images, preprocessing)

MODELS = {name: os.path.join(tg.ROOT, "models", name) for name in ("fashion-cnn", "sentiment-lstm", "translate-en-es")}

# ---- the protocol's schemas ----------------------------------------------------------------

# [OIP] "Tensor Data Types": the datatypes a tensor may have, and their sizes in bytes
# (BYTES is variable: [BIN] "a 4-byte unsigned integer giving the length followed by the bytes").
DATATYPE_SIZE = {"BOOL": 1, "UINT8": 1, "UINT16": 2, "UINT32": 4, "UINT64": 8, "INT8": 1, "INT16": 2,
                 "INT32": 4, "INT64": 8, "FP16": 2, "FP32": 4, "FP64": 8, "BYTES": None}
STRUCT_CODE = {"BOOL": "?", "UINT8": "B", "UINT16": "H", "UINT32": "I", "UINT64": "Q", "INT8": "b", "INT16": "h",
               "INT32": "i", "INT64": "q", "FP16": "e", "FP32": "f", "FP64": "d"}

DEFS = {
    # [OIP] "Parameters": $parameter = $string : $string | $number | $boolean
    "parameters": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
    # [OIP] "Tensor Data": row-major, either nested ("natural format") or flat; elements are
    # integers, floating-point numbers, strings or booleans.
    "tensor_data": {"type": "array", "items": {"anyOf": [{"$ref": "#/$defs/tensor_data"},
                                                         {"type": ["number", "string", "boolean"]}]}},
    "datatype": {"enum": sorted(DATATYPE_SIZE)},
    # [OIP] Request Input / Response Output: "Each dimension must be an integer representable
    # as an unsigned 64-bit integer value."
    "shape": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 2**64 - 1}},
    # [OIP] Model Metadata, $metadata_tensor: "Variable-size dimensions are specified as -1."
    "metadata_tensor": {"type": "object", "required": ["name", "datatype", "shape"],
                        "properties": {"name": {"type": "string"}, "datatype": {"$ref": "#/$defs/datatype"},
                                       "shape": {"type": "array", "items": {"type": "integer", "minimum": -1}}}},
    # [OIP] Server Metadata Response JSON Object ($metadata_server_response)
    "metadata_server_response": {"type": "object", "required": ["name", "version", "extensions"],
                                 "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                                                "extensions": {"type": "array", "items": {"type": "string"}}}},
    # [OIP] Server/Model Metadata Response JSON Error Object, Inference Response JSON Error
    # Object: {"error": $string}. Nothing else is allowed, so an RFC 9457 problem body (type,
    # title, status, detail) leaking onto /v2 fails here.
    "error_response": {"type": "object", "required": ["error"], "additionalProperties": False,
                       "properties": {"error": {"type": "string", "minLength": 1}}},
    # [OIP] Model Metadata Response JSON Object ($metadata_model_response); versions #optional
    "metadata_model_response": {
        "type": "object", "required": ["name", "platform", "inputs", "outputs"],
        "properties": {"name": {"type": "string"}, "versions": {"type": "array", "items": {"type": "string"}},
                       "platform": {"type": "string"},
                       "inputs": {"type": "array", "items": {"$ref": "#/$defs/metadata_tensor"}},
                       "outputs": {"type": "array", "items": {"$ref": "#/$defs/metadata_tensor"}}}},
    # [OIP] Model Ready Response JSON Object ($ready_model_response)
    "ready_model_response": {"type": "object", "required": ["name", "ready"],
                             "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}}},
    # [OIP] Server Live Response JSON Object ($live_server_response = {"live": $bool})
    "live_server_response": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
    # [OIP] Server Ready Response JSON Object: the text writes {"live": $bool}, a copy of the
    # live object; servers answer {"ready": $bool}. Either is taken, and it must be a boolean.
    "ready_server_response": {"type": "object", "anyOf": [{"required": ["ready"]}, {"required": ["live"]}],
                              "properties": {"ready": {"type": "boolean"}, "live": {"type": "boolean"}}},
    # [BIN] "binary_data_size": int64, the size of the tensor's binary data in bytes.
    # [BIN] "binary_data": bool, on a $request_output. [CLS] "classification": $number, the
    # count of classes to return, on a $request_output.
    "input_parameters": {"allOf": [{"$ref": "#/$defs/parameters"}, {"properties": {
        "binary_data_size": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}}}]},
    "output_parameters": {"allOf": [{"$ref": "#/$defs/parameters"}, {"properties": {
        "binary_data": {"type": "boolean"}, "classification": {"type": "integer", "minimum": 1}}}]},
    # [BIN] "binary_data_output": bool, on the $inference_request.
    "request_parameters": {"allOf": [{"$ref": "#/$defs/parameters"}, {"properties": {
        "binary_data_output": {"type": "boolean"}}}]},
    # [OIP] Request Input ($inference_request_input); [BIN]: a tensor sent as binary carries
    # binary_data_size and no "data" (its bytes follow the JSON object).
    "request_input": {
        "type": "object", "required": ["name", "shape", "datatype"],
        "properties": {"name": {"type": "string"}, "shape": {"$ref": "#/$defs/shape"},
                       "datatype": {"$ref": "#/$defs/datatype"}, "parameters": {"$ref": "#/$defs/input_parameters"},
                       "data": {"$ref": "#/$defs/tensor_data"}},
        "oneOf": [{"required": ["data"]},
                  {"required": ["parameters"], "properties": {"parameters": {"required": ["binary_data_size"]}}}]},
    # [OIP] Request Output ($inference_request_output)
    "request_output": {"type": "object", "required": ["name"],
                       "properties": {"name": {"type": "string"},
                                      "parameters": {"$ref": "#/$defs/output_parameters"}}},
    # [OIP] Inference Request JSON Object ($inference_request)
    "inference_request": {
        "type": "object", "required": ["inputs"],
        "properties": {"id": {"type": "string"}, "parameters": {"$ref": "#/$defs/request_parameters"},
                       "inputs": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/request_input"}},
                       "outputs": {"type": "array", "items": {"$ref": "#/$defs/request_output"}}}},
    # [OIP] Response Output ($response_output): the same fields as a request input, and
    # [BIN] a binary output likewise carries binary_data_size in its parameters, no "data".
    "response_output": {"$ref": "#/$defs/request_input"},
    # [OIP] Inference Response JSON Object ($inference_response); model_version #optional
    "inference_response": {
        "type": "object", "required": ["model_name", "outputs"],
        "properties": {"model_name": {"type": "string"}, "model_version": {"type": "string"},
                       "id": {"type": "string"}, "parameters": {"$ref": "#/$defs/parameters"},
                       "outputs": {"type": "array", "items": {"$ref": "#/$defs/response_output"}}}},
}


def validator(name):
    return jsonschema.Draft202012Validator({"$ref": "#/$defs/" + name, "$defs": DEFS})


SCHEMA = {name: validator(name) for name in DEFS}
jsonschema.Draft202012Validator.check_schema({"$defs": DEFS})


def schema_errors(name, obj):
    """The schema's complaints about obj, one line each ([] when it conforms)."""
    return ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(root)", e.message)
            for e in SCHEMA[name].iter_errors(obj)]


# ---- checks and their tally ------------------------------------------------------------------

failures, known = [], []


def check(name, ok, detail="", todo=None):
    """One TAP line. todo names a known bug of the server (reported, not yet fixed): the line
    is then a TAP TODO, which does not fail the run while the bug stands and shows as an
    unexpected pass once it is fixed (then drop the todo)."""
    if todo is None:
        tg.check(name, ok, detail)
        if not ok:
            failures.append(name)
        return bool(ok)
    tg.results.append(True)
    print("%s %d - %s # TODO %s" % ("ok" if ok else "not ok", len(tg.results), name, todo))
    if not ok:
        known.append(name)
        for line in str(detail).splitlines()[:5]:
            print("# " + line)
    sys.stdout.flush()
    return bool(ok)


def check_schema(what, name, obj):
    errs = schema_errors(name, obj) if not isinstance(obj, (bytes, str)) else ["not JSON: %r" % obj[:200]]
    return check("%s: body is a %s" % (what, name), not errs, "\n".join(errs[:8]) + "\n" + repr(obj)[:400])


# ---- HTTP: JSON and binary bodies ------------------------------------------------------------

def binary_body(header, blobs):
    """[BIN]: the JSON object, then each binary tensor's bytes in input order; the JSON
    object's length goes in Inference-Header-Content-Length."""
    text = json.dumps(header).encode()
    return text + b"".join(blobs), len(text)


def split_answer(h, data):
    """(json, {output name: bytes}, problem): an answer cut as [BIN] and [TC] _infer_result.py
    cut it: the first Inference-Header-Content-Length bytes are JSON, then each output with
    binary_data_size takes that many bytes, in output order. problem names what does not add up."""
    n = h.get("inference-header-content-length")
    if n is None:
        try:
            return json.loads(data), {}, None
        except ValueError:
            return data, {}, "not JSON"
    if not n.isdigit() or int(n) > len(data):
        return data, {}, "Inference-Header-Content-Length %r for a %d-byte body" % (n, len(data))
    try:
        obj = json.loads(data[:int(n)])
    except ValueError:
        return data, {}, "the first %s bytes are not JSON" % n
    blobs, at = {}, int(n)
    for o in obj.get("outputs", []) if isinstance(obj, dict) else []:
        size = (o.get("parameters") or {}).get("binary_data_size")
        if isinstance(size, int):
            blobs[o.get("name")] = data[at:at + size]
            at += size
    if at != len(data):
        return obj, blobs, "binary_data_size sums to %d bytes after the JSON, the body has %d" % (
            at - int(n), len(data) - int(n))
    return obj, blobs, None


def post(d, path, body, headers=None):
    """POSTs a JSON object (dict) or raw bytes; returns (status, headers, json or bytes, blobs, problem)."""
    h = dict(headers or {})
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    status, rh, data = d.request("POST", path, body, h)
    obj, blobs, problem = split_answer(rh, data)
    return status, rh, obj, blobs, problem


def post_binary(d, path, header, blobs, content_type="application/octet-stream"):
    body, n = binary_body(header, blobs)
    h = {"Inference-Header-Content-Length": str(n)}
    if content_type:
        h["Content-Type"] = content_type
    return post(d, path, body, h)


def flatten(data):
    out = []
    for v in data:
        if isinstance(v, list):
            out += flatten(v)
        else:
            out.append(v)
    return out


def nested_shape_ok(data, shape):
    """Nested data must nest exactly as the shape says ([OIP] "natural format"); flat data
    must hold prod(shape) elements."""
    if not any(isinstance(v, list) for v in data):
        return len(data) == math.prod(shape)

    def walk(x, dims):
        if not dims:
            return not isinstance(x, list)
        return isinstance(x, list) and len(x) == dims[0] and all(walk(y, dims[1:]) for y in x)
    return walk(data, list(shape))


def element_ok(datatype, v):
    if datatype == "BYTES":
        return isinstance(v, str)
    if datatype == "BOOL":
        return isinstance(v, bool)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    if datatype.startswith("FP"):
        return math.isfinite(v)
    if not isinstance(v, int):
        return False
    bits = DATATYPE_SIZE[datatype] * 8
    lo, hi = (0, 2**bits - 1) if datatype.startswith("U") else (-2**(bits - 1), 2**(bits - 1) - 1)
    return lo <= v <= hi


def decode_bytes_tensor(blob):
    """[BIN] BYTES: each element is a 4-byte little-endian length, then that many bytes."""
    out, at = [], 0
    while at < len(blob):
        if at + 4 > len(blob):
            return None
        n = struct.unpack_from("<I", blob, at)[0]
        if at + 4 + n > len(blob):
            return None
        out.append(blob[at + 4:at + 4 + n].decode("utf-8", "replace"))
        at += 4 + n
    return out


def encode_bytes_tensor(texts):
    return b"".join(struct.pack("<I", len(t.encode())) + t.encode() for t in texts)


def tensor_values(o, blobs):
    """The flat element values of a response output, from JSON data or from its binary bytes;
    (values, problem)."""
    dt, shape = o["datatype"], o["shape"]
    count = math.prod(shape)
    size = (o.get("parameters") or {}).get("binary_data_size")
    if size is None:
        data = o.get("data")
        if not nested_shape_ok(data, shape):
            return None, "data does not hold prod(shape) = %d elements (or nest as the shape)" % count
        values = flatten(data)
        bad = [v for v in values if not element_ok(dt, v)]
        if bad:
            return None, "%d elements are not %s values, e.g. %r" % (len(bad), dt, bad[:3])
        return values, None
    if "data" in o:
        return None, "both \"data\" and binary_data_size"
    blob = blobs.get(o["name"], b"")
    if dt == "BYTES":
        values = decode_bytes_tensor(blob)
        if values is None or len(values) != count:
            return None, "binary BYTES do not hold prod(shape) = %d length-prefixed elements" % count
        return values, None
    if size != count * DATATYPE_SIZE[dt]:
        return None, "binary_data_size %d != prod(shape) %d x %d bytes" % (size, count, DATATYPE_SIZE[dt])
    values = list(struct.unpack("<%d%s" % (count, STRUCT_CODE[dt]), blob))
    bad = [v for v in values if not element_ok(dt, v)]
    if bad:
        return None, "%d binary elements are not %s values, e.g. %r" % (len(bad), dt, bad[:3])
    return values, None


def check_infer_answer(what, r, model, version=None, request_id=None, binary=False):
    """Status, headers, schema, identity and every output's consistency of one inference
    answer; returns {output name: (shape, datatype, flat values)} (empty when it fails)."""
    status, h, obj, blobs, problem = r
    if not check("%s: 200" % what, status == 200, (status, obj)):
        return {}
    ctype = h.get("content-type", "")
    if binary:
        # [BIN] example: a response with binary tensors is application/octet-stream and says
        # where the JSON ends
        check("%s: Content-Type application/octet-stream and Inference-Header-Content-Length" % what,
              ctype.startswith("application/octet-stream") and "inference-header-content-length" in h, h)
    else:
        check("%s: Content-Type application/json, no Inference-Header-Content-Length" % what,
              ctype.startswith("application/json") and "inference-header-content-length" not in h, h)
    if not check("%s: the body adds up" % what, problem is None, problem):
        return {}
    if not check_schema(what, "inference_response", obj):
        return {}
    check("%s: model_name is the model" % what, obj["model_name"] == model, obj["model_name"])
    if version is not None:
        check("%s: model_version is the version asked" % what, obj.get("model_version") == version,
              obj.get("model_version"))
    if request_id is not None:
        # [OIP] "id": "if specified this identifier must be returned in the response"
        check("%s: the request's id is echoed" % what, obj.get("id") == request_id, obj.get("id"))
    out, problems = {}, []
    for o in obj["outputs"]:
        values, why = tensor_values(o, blobs)
        if why:
            problems.append("%s: %s" % (o["name"], why))
        else:
            out[o["name"]] = (o["shape"], o["datatype"], values)
    names = [o["name"] for o in obj["outputs"]]
    check("%s: every output is consistent (shape, datatype, data or binary size), names unique" % what,
          not problems and len(set(names)) == len(names), "\n".join(problems) or names)
    return out


def check_error(what, r, statuses=(400,), needle=None, todo=None):
    """An error answer: one of statuses, application/json, exactly {"error": STRING}; the
    message names needle when given (an error a user can act on)."""
    status, h, obj = r[0], r[1], r[2]
    ok = status in statuses and h.get("content-type", "").startswith("application/json")
    good = check("%s: %s, application/json" % (what, "/".join(map(str, statuses))), ok,
                 (status, h.get("content-type"), obj), todo)
    if todo is not None:
        return
    good = check_schema(what, "error_response", obj)
    if needle is not None and good:
        check("%s: the error names %r" % (what, needle), needle.lower() in obj["error"].lower(), obj["error"])


# ---- requests per family ------------------------------------------------------------------------

def fp32_input(images, nested=False):
    data = [v for img in images for v in tg.preprocess(img)]
    if nested:
        data = [[[data[(i * 28 + y) * 28:(i * 28 + y) * 28 + 28] for y in range(28)]] for i in range(len(images))]
    return {"name": "input", "shape": [len(images), 1, 28, 28], "datatype": "FP32", "data": data}


def uint8_input(images):
    return {"name": "input", "shape": [len(images), 1, 28, 28], "datatype": "UINT8",
            "data": [p for img in images for p in img]}


def close(a, b, tol):
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b))


def labels_of(model):
    with open(os.path.join(MODELS[model], "labels.txt")) as f:
        return [line.strip() for line in f if line.strip()]


def check_classification(what, values, shape, k, probs, classes, labels):
    """[CLS]: BYTES [batch, K] of "<value>:<index>[:<label>]", the K highest values in
    descending order; glia has labels, so each carries its label."""
    n = len(probs) // classes
    problems = []
    if shape != [n, k]:
        problems.append("shape %s, want [%d, %d]" % (shape, n, k))
    for i in range(n if shape == [n, k] else 0):
        row = probs[i * classes:(i + 1) * classes]
        top = sorted(range(classes), key=lambda j: -row[j])[:k]
        for j, s in enumerate(values[i * k:(i + 1) * k]):
            parts = s.split(":", 2)
            try:
                value, index = float(parts[0]), int(parts[1])
            except (ValueError, IndexError):
                problems.append("%r is not value:index:label" % s)
                continue
            if not (0 <= index < classes and len(parts) == 3 and parts[2] == labels[index]):
                problems.append("%r: index out of range or label is not labels.txt's" % s)
            elif abs(value - row[index]) > 1e-5 * max(1.0, abs(row[index])):
                problems.append("%r: value is not the output's %.7g" % (s, row[index]))
            elif row[index] < row[top[j]] - 1e-6:
                problems.append("%r: not the %d-th highest (index %d)" % (s, j + 1, top[j]))
    return check("%s: classification strings are the top %d as value:index:label" % (what, k), not problems,
                 "\n".join(problems[:10]))


# ---- the routes ---------------------------------------------------------------------------------

def server_routes(d, families):
    s, h, body = d.json("GET", "/v2")
    check("GET /v2: 200 application/json", s == 200 and h.get("content-type", "").startswith("application/json"),
          (s, h))
    if check_schema("GET /v2", "metadata_server_response", body):
        # [BIN] "Triton reports 'binary_tensor_data' in the extensions field"; [CLS] likewise
        # "classification": a server that takes them says so
        check("GET /v2: extensions list binary_tensor_data and classification",
              {"binary_tensor_data", "classification"} <= set(body["extensions"]), body["extensions"])
    s, h, body = d.json("GET", "/v2/health/live")
    check("GET /v2/health/live: 200", s == 200 and h.get("content-type", "").startswith("application/json"), (s, h))
    if check_schema("GET /v2/health/live", "live_server_response", body):
        check("GET /v2/health/live: live is true", body["live"] is True, body)
    s, h, body = d.json("GET", "/v2/health/ready")
    check("GET /v2/health/ready: 200 once every model is loaded", s == 200, (s, body))
    if check_schema("GET /v2/health/ready", "ready_server_response", body):
        check("GET /v2/health/ready: ready is true", body.get("ready", body.get("live")) is True, body)
    for path in ("/v2/models/no-such-model", "/v2/models/no-such-model/ready", "/v2/models/no-such-model/versions/1",
                 "/v2/models/no-such-model/versions/1/ready"):
        check_error("GET %s (unknown model)" % path, d.json("GET", path), (404,), "no-such-model")
    for path in ("/v2/models/no-such-model/infer", "/v2/models/no-such-model/versions/1/infer"):
        check_error("POST %s (unknown model)" % path,
                    d.json("POST", path, {"inputs": [fp32_input(families["images"][:1])]}), (404,), "no-such-model")
    check_error("GET /v2/models/fashion-cnn/infer (wrong method)", d.json("GET", "/v2/models/fashion-cnn/infer"),
                (405,))


def model_routes(d, model):
    """Metadata and readiness, with and without the version the metadata lists, and an
    unknown version; returns (metadata, version)."""
    s, h, meta = d.json("GET", "/v2/models/" + model)
    check("GET /v2/models/%s: 200 application/json" % model,
          s == 200 and h.get("content-type", "").startswith("application/json"), (s, meta))
    if not check_schema("GET /v2/models/" + model, "metadata_model_response", meta):
        return None, None
    check("GET /v2/models/%s: name is the model, versions are listed" % model,
          meta["name"] == model and len(meta.get("versions", [])) >= 1, meta)
    version = (meta.get("versions") or ["1"])[-1]
    s, h, vmeta = d.json("GET", "/v2/models/%s/versions/%s" % (model, version))
    if check("GET /v2/models/%s/versions/%s: 200" % (model, version), s == 200, (s, vmeta)):
        check_schema("GET /v2/models/%s/versions/%s" % (model, version), "metadata_model_response", vmeta)
        check("GET /v2/models/%s/versions/%s: same inputs and outputs as the unversioned metadata" % (model, version),
              vmeta.get("inputs") == meta["inputs"] and vmeta.get("outputs") == meta["outputs"], vmeta)
    for path in ("/v2/models/%s/ready" % model, "/v2/models/%s/versions/%s/ready" % (model, version)):
        s, h, body = d.json("GET", path)
        check("GET %s: 200" % path, s == 200 and h.get("content-type", "").startswith("application/json"), (s, body))
        if check_schema("GET " + path, "ready_model_response", body):
            check("GET %s: name and ready" % path, body == {"name": model, "ready": True}, body)
    for path in ("/v2/models/%s/versions/999999" % model, "/v2/models/%s/versions/999999/ready" % model):
        check_error("GET %s (unknown version)" % path, d.json("GET", path), (404,), "999999")
    # -1 is no version: gliad's "the serving one" inside must not leak into the URL
    for path in ("/v2/models/%s/versions/-1" % model, "/v2/models/%s/versions/-1/ready" % model):
        check_error("GET %s (version -1)" % path, d.json("GET", path), (400, 404))
    return meta, version


def image_family(d, images, version):
    model, path = "fashion-cnn", "/v2/models/fashion-cnn/infer"
    vpath = "/v2/models/fashion-cnn/versions/%s/infer" % version
    labels = labels_of(model)
    req = {"id": "my-req-42", "inputs": [fp32_input(images)]}
    check("FP32 request conforms to inference_request", not schema_errors("inference_request", req))
    base = check_infer_answer("infer FP32 [3,1,28,28]", post(d, path, req), model, version, "my-req-42")
    probs = base.get("probabilities", (None, None, []))[2]
    check("infer FP32: probabilities FP32 [3, 10], rows sum to 1",
          base.get("probabilities", [None])[0] == [3, 10] and base["probabilities"][1] == "FP32" and
          all(abs(sum(probs[i * 10:(i + 1) * 10]) - 1) < 1e-4 for i in range(3)), base)
    # the same image through /v1 (another codec, the same core): the same class and score
    r1 = d.json("POST", "/v1/predict", {"model": model, "inputs": [
        {"tensor": {"shape": [1, 28, 28], "data": tg.preprocess(img)}} for img in images]})
    if r1[0] == 200 and len(probs) == 30:
        check("infer FP32: the classes and scores /v1/predict gives",
              all(o["index"] == max(range(10), key=lambda k: probs[i * 10 + k]) and
                  abs(o["score"] - probs[i * 10 + o["index"]]) < 1e-4 for i, o in enumerate(r1[2]["outputs"])),
              (r1[2], probs))
    r = check_infer_answer("infer FP32 with /versions/%s" % version, post(d, vpath, req), model, version, "my-req-42")
    check("infer with the version: the same probabilities", close(r.get("probabilities", (0, 0, []))[2], probs, 0),
          r)
    # [OIP] Tensor Data: "natural" nested form
    r = check_infer_answer("infer FP32 nested data", post(d, path, {"inputs": [fp32_input(images, nested=True)]}),
                           model, version)
    check("nested data: the flat answer", close(r.get("probabilities", (0, 0, []))[2], probs, 0), r)
    # UINT8 raw pixels: the manifest's preprocessing applied by the server
    r = check_infer_answer("infer UINT8 raw pixels", post(d, path, {"inputs": [uint8_input(images)]}), model, version)
    check("UINT8: the FP32 answer (within float rounding)", close(r.get("probabilities", (0, 0, []))[2], probs, 1e-5),
          r)

    # [BIN] binary inputs: FP32 and UINT8, outputs as JSON
    fp32 = struct.pack("<%df" % (784 * len(images)), *[v for img in images for v in tg.preprocess(img)])
    header = {"inputs": [{"name": "input", "shape": [len(images), 1, 28, 28], "datatype": "FP32",
                          "parameters": {"binary_data_size": len(fp32)}}]}
    check("binary request conforms to inference_request", not schema_errors("inference_request", header))
    r = check_infer_answer("infer binary FP32 input", post_binary(d, path, header, [fp32]), model, version)
    check("binary FP32 input: the JSON input's answer", close(r.get("probabilities", (0, 0, []))[2], probs, 1e-6), r)
    raw = b"".join(images)
    header8 = {"inputs": [{"name": "input", "shape": [len(images), 1, 28, 28], "datatype": "UINT8",
                           "parameters": {"binary_data_size": len(raw)}}]}
    r = check_infer_answer("infer binary UINT8 input", post_binary(d, path, header8, [raw]), model, version)
    check("binary UINT8 input: the FP32 answer", close(r.get("probabilities", (0, 0, []))[2], probs, 1e-5), r)

    # [BIN] binary outputs: for all (binary_data_output) and per output (binary_data)
    req = {"parameters": {"binary_data_output": True}, "inputs": [fp32_input(images)]}
    r = check_infer_answer("binary_data_output: true", post(d, path, req), model, version, binary=True)
    check("binary output: the JSON output's values", close(r.get("probabilities", (0, 0, []))[2], probs, 1e-6), r)
    req = {"inputs": [fp32_input(images)], "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]}
    r = check_infer_answer("outputs[].parameters.binary_data: true", post(d, path, req), model, version, binary=True)
    check("per-output binary: the JSON output's values", close(r.get("probabilities", (0, 0, []))[2], probs, 1e-6), r)
    req = {"parameters": {"binary_data_output": True}, "inputs": [fp32_input(images)],
           "outputs": [{"name": "probabilities", "parameters": {"binary_data": False}}]}
    check_infer_answer("binary_data: false overrides binary_data_output", post(d, path, req), model, version)

    # [CLS] classification
    req = {"inputs": [fp32_input(images)], "outputs": [{"name": "probabilities", "parameters": {"classification": 3}}]}
    r = check_infer_answer("classification: 3", post(d, path, req), model, version)
    if "probabilities" in r:
        check("classification: BYTES", r["probabilities"][1] == "BYTES", r)
        check_classification("classification: 3", r["probabilities"][2], r["probabilities"][0], 3, probs, 10, labels)
    req["outputs"][0]["parameters"]["binary_data"] = True
    r = check_infer_answer("classification: 3, binary", post(d, path, req), model, version, binary=True)
    if "probabilities" in r:
        check_classification("classification: 3, binary", r["probabilities"][2], r["probabilities"][0], 3, probs, 10,
                             labels)
    concurrent_forms(d, images, probs)
    return probs


def concurrent_forms(d, images, probs):
    """Requests in every form at once (JSON FP32, binary FP32, binary UINT8, binary output),
    which the batcher may run together: each answer must be its own image's."""
    path = "/v2/models/fashion-cnn/infer"

    def one(i, form):
        img = images[i]
        if form == 0:
            return post(d, path, {"inputs": [fp32_input([img])]})
        if form == 1:
            blob = struct.pack("<784f", *tg.preprocess(img))
            return post_binary(d, path, {"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32",
                                                     "parameters": {"binary_data_size": 3136}}]}, [blob])
        if form == 2:
            return post_binary(d, path, {"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "UINT8",
                                                     "parameters": {"binary_data_size": 784}}]}, [img])
        return post(d, path, {"parameters": {"binary_data_output": True}, "inputs": [uint8_input([img])]})

    jobs = [(k % len(images), k % 4) for k in range(24)]
    answers = [None] * len(jobs)

    def run(k):
        answers[k] = one(*jobs[k])
    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    wrong = []
    for (i, form), r in zip(jobs, answers):
        if r is None or r[0] != 200 or r[4] is not None:
            wrong.append((i, form, r and r[0], r and str(r[2])[:200]))
            continue
        o = r[2]["outputs"][0]
        values = tensor_values(o, r[3])[0] or []
        if not close(values, probs[i * 10:(i + 1) * 10], 1e-5):
            wrong.append((i, form, values))
    check("24 concurrent requests in four forms: each gets its own image's answer", not wrong and len(probs) == 30,
          wrong[:5])


def image_errors(d, images):
    path = "/v2/models/fashion-cnn/infer"
    one = fp32_input(images[:1])

    def with_input(**changes):
        t = dict(one, **changes)
        return {"inputs": [{k: v for k, v in t.items() if v is not None}]}
    check_error("unknown version on infer", d.json("POST", "/v2/models/fashion-cnn/versions/999999/infer",
                                                     {"inputs": [one]}), (404,), "999999")
    check_error("bad datatype FP64", d.json("POST", path, with_input(datatype="FP64")), (400,), "FP64")
    check_error("datatype not in the protocol (FLOAT)", d.json("POST", path, with_input(datatype="FLOAT")), (400,),
                "datatype")
    check_error("bad shape [1,1,28,27]", d.json("POST", path, with_input(shape=[1, 1, 28, 27])), (400,), "shape")
    check_error("shape and data disagree (783 numbers)", d.json("POST", path, with_input(data=one["data"][:-1])),
                (400,))
    check_error("nested data that does not nest as the shape",
                d.json("POST", path, with_input(data=[one["data"][:392], one["data"][392:]])), (400,))
    check_error("a string in FP32 data", d.json("POST", path, with_input(data=["x"] + one["data"][1:])), (400,))
    check_error("UINT8 pixel 256", d.json("POST", path, {"inputs": [dict(uint8_input(images[:1]),
                                                                         data=[256] * 784)]}), (400,))
    check_error("unknown request parameter", d.json("POST", path, {"parameters": {"no_such_param": 1},
                                                                  "inputs": [one]}), (400,), "no_such_param")
    check_error("unknown tensor parameter",
                d.json("POST", path, with_input(parameters={"no_such_param": True})), (400,), "no_such_param")
    check_error("unknown output", d.json("POST", path, {"inputs": [one], "outputs": [{"name": "no_such_output"}]}),
                (400,), "no_such_output")
    check_error("classification: 0", d.json("POST", path, {"inputs": [one], "outputs": [
        {"name": "probabilities", "parameters": {"classification": 0}}]}), (400,), "classification")
    check_error("binary_data_output as a string", d.json("POST", path, {"parameters": {"binary_data_output": "yes"},
                                                                       "inputs": [one]}), (400,))
    check_error("malformed JSON", post(d, path, b'{"inputs": [', {"Content-Type": "application/json"}), (400,))
    check_error("no inputs", d.json("POST", path, {"inputs": []}), (400,))
    check_error("\"id\" that is not a string", d.json("POST", path, {"id": 42, "inputs": [one]}), (400,), "id")

    # [OIP] Request Input "name": the name of the input tensor, one the metadata lists
    check_error("an input name the metadata does not list", d.json("POST", path, with_input(name="no_such_input")),
                (400,), "no_such_input")
    check_error("POST /versions/-1/infer", d.json("POST", "/v2/models/fashion-cnn/versions/-1/infer", {"inputs": [one]}),
                (400, 404))
    # a shape far larger than its data must be refused before anything is sized from it
    # (h14-oip once tried a terabyte allocation for 10^12 elements with two numbers)
    check_error("shape [10^9, 1, 28, 28] with one image's numbers",
                d.json("POST", path, with_input(shape=[10**9, 1, 28, 28])), (400, 413))
    check_error("binary: shape [10^9, 1, 28, 28] with 3136 bytes", post_binary(d, path, {"inputs": [
        {"name": "input", "shape": [10**9, 1, 28, 28], "datatype": "FP32", "parameters": {"binary_data_size": 3136}}]},
        [struct.pack("<784f", *one["data"])]), (400, 413))
    check_error("text: BYTES shape [10^12] with two strings", d.json("POST", "/v2/models/sentiment-lstm/infer", {
        "inputs": [{"name": "text", "shape": [10**12], "datatype": "BYTES", "data": ["a", "b"]}]}), (400, 413))
    check_error("two input tensors for a one-input model", d.json("POST", path, {"inputs": [one, one]}), (400,))
    check_error("a negative dimension", d.json("POST", path, with_input(shape=[-1, 1, 28, 28])), (400,))
    check_error("a dimension that is not an integer", d.json("POST", path, with_input(shape=[1, 1, 28, 28.5])), (400,))
    check_error("\"data\": null", d.json("POST", path, {"inputs": [dict(one, data=None)]}), (400,))
    check_error("an empty body", post(d, path, b"", {"Content-Type": "application/json"}), (400,))
    check_error("a JSON array body", post(d, path, b"[]", {"Content-Type": "application/json"}), (400,))
    check_error("a version that is not a number", d.json("POST", "/v2/models/fashion-cnn/versions/latest/infer",
                                                           {"inputs": [one]}), (400, 404))
    # parameters.top_k (gliad's): the classification of the classifier's output
    r = check_infer_answer("parameters.top_k 2", post(d, path, {"parameters": {"top_k": 2}, "inputs": [one]}),
                           "fashion-cnn")
    check("parameters.top_k 2: BYTES [1, 2]", r.get("probabilities", [None])[0] == [1, 2] and
          r["probabilities"][1] == "BYTES", r)

    # [BIN]: the lengths must add up
    blob = struct.pack("<784f", *one["data"])
    header = {"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32",
                          "parameters": {"binary_data_size": len(blob)}}]}
    check_error("binary: body shorter than binary_data_size", post_binary(d, path, header, [blob[:-4]]), (400,))
    check_error("binary: bytes left over after the tensors", post_binary(d, path, header, [blob + b"\0\0\0\0"]),
                (400,))
    bad = json.loads(json.dumps(header))
    bad["inputs"][0]["parameters"]["binary_data_size"] = 4 * 783
    check_error("binary: binary_data_size != prod(shape) x 4", post_binary(d, path, bad, [blob[:-4]]), (400,))
    body, n = binary_body(header, [blob])
    for value in (str(len(body) + 1), "-5", "abc", ""):
        check_error("binary: Inference-Header-Content-Length %r" % value,
                    post(d, path, body, {"Inference-Header-Content-Length": value,
                                         "Content-Type": "application/octet-stream"}), (400,))
    check_error("binary: Inference-Header-Content-Length cuts the JSON short",
                post(d, path, body, {"Inference-Header-Content-Length": str(n - 1)}), (400,))
    check_error("binary: binary_data_size without Inference-Header-Content-Length",
                post(d, path, body, {"Content-Type": "application/octet-stream"}), (400,))
    huge = json.loads(json.dumps(header))
    huge["inputs"][0]["parameters"]["binary_data_size"] = 2**62
    check_error("binary: binary_data_size 2**62", post_binary(d, path, huge, [blob]), (400, 413))
    # [BIN] a header length equal to the body: a JSON request with no binary part; taken
    r = post(d, path, json.dumps({"inputs": [one]}).encode(),
             {"Inference-Header-Content-Length": str(len(json.dumps({"inputs": [one]}))),
              "Content-Type": "application/json"})
    check_infer_answer("Inference-Header-Content-Length == the whole JSON body", r, "fashion-cnn")
    both = json.loads(json.dumps(header))
    both["inputs"][0]["data"] = one["data"]
    check_error("binary: both data and binary_data_size", post_binary(d, path, both, [blob]), (400,))


def text_family(d, version):
    model, path = "sentiment-lstm", "/v2/models/sentiment-lstm/infer"
    texts = ["I loved it", "The food was cold and the waiter rude."]
    labels = labels_of(model)
    req = {"id": "txt-1", "inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": texts}]}
    base = check_infer_answer("text infer BYTES [2]", post(d, path, req), model, version, "txt-1")
    out = next(iter(base.values()), (None, None, []))
    name = next(iter(base), "probabilities")
    probs = out[2]
    check("text infer: FP32 [2, 2] probabilities", out[0] == [2, 2] and out[1] == "FP32" and
          all(abs(probs[i * 2] + probs[i * 2 + 1] - 1) < 1e-4 for i in range(2)), base)
    r1 = d.json("POST", "/v1/predict", {"model": model, "inputs": texts})
    if r1[0] == 200 and len(probs) == 4:
        check("text infer: /v1/predict's scores", all(abs(o["score"] - probs[i * 2 + o["index"]]) < 1e-4
                                                      for i, o in enumerate(r1[2]["outputs"])), (r1[2], probs))
    r = check_infer_answer("text infer with /versions/%s" % version,
                           post(d, "/v2/models/sentiment-lstm/versions/%s/infer" % version, req), model, version)
    check("text with the version: the same probabilities", close(r.get(name, (0, 0, []))[2], probs, 0), r)
    req2 = dict(req, inputs=[dict(req["inputs"][0], shape=[2, 1], data=[[t] for t in texts])])
    r = check_infer_answer("text infer BYTES [2, 1] nested", post(d, path, req2), model, version)
    check("text nested: the same probabilities", close(r.get(name, (0, 0, []))[2], probs, 0), r)
    blob = encode_bytes_tensor(texts)
    header = {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": len(blob)}}],
              "parameters": {"binary_data_output": True}}
    r = check_infer_answer("text binary BYTES in, binary out", post_binary(d, path, header, [blob]), model, version,
                           binary=True)
    check("text binary: the same probabilities", close(r.get(name, (0, 0, []))[2], probs, 1e-6), r)
    req3 = dict(req, outputs=[{"name": name, "parameters": {"classification": 1}}])
    r = check_infer_answer("text classification: 1", post(d, path, req3), model, version)
    if name in r:
        check_classification("text classification: 1", r[name][2], r[name][0], 1, probs, 2, labels)
    # every input the metadata lists must be taken in the datatype it lists: the token-id
    # input (ids of vocab.txt's words, 0 = padding) in INT32, INT64 and binary INT64 agree
    meta = d.json("GET", "/v2/models/" + model)[2]
    meta = meta if isinstance(meta, dict) else {}
    ids_input = next((t for t in meta.get("inputs", []) if t["datatype"] in ("INT32", "INT64")), None)
    if check("text metadata lists a token-id input (INT32/INT64)", ids_input is not None, meta):
        with open(os.path.join(MODELS[model], "vocab.txt")) as f:
            vocab = [line.rstrip("\n") for line in f]
        rows = [[vocab.index(w) for w in ("i", "loved", "it")], [vocab.index(w) for w in ("it", "is", "bad")] + [0]]
        rows[0] += [0]
        got = {}
        for dt in ("INT32", "INT64"):
            r = check_infer_answer("text infer %s %s [2, 4]" % (ids_input["name"], dt), post(d, path, {
                "inputs": [{"name": ids_input["name"], "shape": [2, 4], "datatype": dt, "data": rows}]}), model, version)
            got[dt] = next(iter(r.values()), (0, 0, []))[2]
        blob = struct.pack("<8q", *[v for row in rows for v in row])
        r = check_infer_answer("text infer binary INT64 ids", post_binary(d, path, {"inputs": [
            {"name": ids_input["name"], "shape": [2, 4], "datatype": "INT64",
             "parameters": {"binary_data_size": len(blob)}}]}, [blob]), model, version)
        got["binary"] = next(iter(r.values()), (0, 0, []))[2]
        check("token ids: INT32, INT64 and binary INT64 agree, and sentence 0 is positive",
              len(got["INT32"]) == 4 and close(got["INT32"], got["INT64"], 0) and
              close(got["INT32"], got["binary"], 0) and got["INT32"][1] > 0.5, got)
        check_error("text: INT32 id 2**31 (not an INT32)", d.json("POST", path, {"inputs": [
            {"name": ids_input["name"], "shape": [1, 1], "datatype": "INT32", "data": [2**31]}]}), (400,))
        check_error("text: token id outside the vocabulary", d.json("POST", path, {"inputs": [
            {"name": ids_input["name"], "shape": [1, 1], "datatype": "INT64", "data": [len(vocab) + 5]}]}), (400,),
                    str(len(vocab) + 5))
        r = d.json("POST", path, {"inputs": [{"name": ids_input["name"], "shape": [1, 1], "datatype": "INT64",
                                              "data": [2**62]}]})
        check("text: INT64 id 2**62: 400 naming the id sent", r[0] == 400 and str(2**62) in str(r[2]), r)
    # gliad's own "top_k" request parameter: the classification of every classifier output
    r = check_infer_answer("text parameters.top_k 1", post(d, path, dict(req, parameters={"top_k": 1})), model, version)
    if name in r:
        check_classification("text parameters.top_k 1", r[name][2], r[name][0], 1, probs, 2, labels)
    # errors
    check_error("text: FP32 datatype", d.json("POST", path, {"inputs": [
        {"name": "text", "shape": [1], "datatype": "FP32", "data": [1.0]}]}), (400,), "FP32")
    check_error("text: shape [3] for 2 strings", d.json("POST", path, {"inputs": [
        dict(req["inputs"][0], shape=[3])]}), (400,))
    check_error("text: binary BYTES whose length prefix overruns",
                post_binary(d, path, dict(header, inputs=[dict(header["inputs"][0])]),
                            [struct.pack("<I", 1000) + blob[4:]]), (400,))
    return probs


def translation_family(d, version):
    model, path = "translate-en-es", "/v2/models/translate-en-es/infer"
    texts = ["Cannot open file"]
    params = {"beam_size": 1, "max_tokens": 24}
    req = {"id": "tr-1", "parameters": params,
           "inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": texts}]}
    base = check_infer_answer("translate BYTES [1], beam_size 1", post(d, path, req), model, version, "tr-1")
    tr, tok = base.get("translation"), base.get("tokens")
    check("translate: translation BYTES [1] and tokens INT32 [1]",
          tr and tr[:2] == ([1], "BYTES") and tok and tok[:2] == ([1], "INT32") and tr[2][0], base)
    r1 = d.json("POST", "/v1/predict", {"model": model, "inputs": texts, "beam_size": 1, "max_tokens": 24})
    if r1[0] == 200 and tr:
        check("translate: /v1/predict's translation at the same beam", r1[2]["outputs"][0]["translation"] == tr[2][0],
              (r1[2], tr))
    r = check_infer_answer("translate with /versions/%s" % version,
                           post(d, "/v2/models/translate-en-es/versions/%s/infer" % version, req), model, version)
    check("translate with the version: the same text", tr and r.get("translation", (0, 0, None))[2] == tr[2], r)
    # "outputs" selects
    r = check_infer_answer("translate outputs=[tokens]", post(d, path, dict(req, outputs=[{"name": "tokens"}])), model,
                           version)
    check("translate outputs=[tokens]: tokens alone", list(r) == ["tokens"], r)
    # max_tokens cuts
    r = check_infer_answer("translate max_tokens 2",
                           post(d, path, dict(req, parameters={"beam_size": 1, "max_tokens": 2})), model, version)
    check("translate max_tokens 2: at most 2 tokens", r.get("tokens") and r["tokens"][2][0] <= 2, r)
    # binary BYTES output
    r = check_infer_answer("translate binary outputs", post(d, path, dict(req, parameters=dict(
        params, binary_data_output=True))), model, version, binary=True)
    check("translate binary: the JSON text", tr and r.get("translation", (0, 0, None))[2] == tr[2], r)
    # errors
    for bad in ({"beam_size": 0}, {"beam_size": 1000}, {"beam_size": "four"}, {"max_tokens": -1}):
        check_error("translate parameters %s" % json.dumps(bad), d.json("POST", path, dict(req, parameters=bad)), (400,),
                    list(bad)[0])
    check_error("translate: UINT8 datatype", d.json("POST", path, {"inputs": [
        {"name": "text", "shape": [1], "datatype": "UINT8", "data": [1]}]}), (400,), "UINT8")
    check_error("translate: classification on a translation", d.json("POST", path, dict(req, outputs=[
        {"name": "translation", "parameters": {"classification": 2}}])), (400,))


def every_family_errors(d, model, tensor):
    """The error classes every family shares, given one good input tensor of the model's."""
    path = "/v2/models/%s/infer" % model
    req = {"inputs": [tensor]}
    check_error("%s: unknown version on infer" % model,
                d.json("POST", "/v2/models/%s/versions/999999/infer" % model, req), (404,), "999999")
    check_error("%s: malformed JSON" % model, post(d, path, json.dumps(req).encode()[:-3],
                                                   {"Content-Type": "application/json"}), (400,))
    check_error("%s: unknown request parameter" % model, d.json("POST", path, dict(req, parameters={"temperature": 0.5})),
                (400,), "temperature")
    check_error("%s: unknown output" % model, d.json("POST", path, dict(req, outputs=[{"name": "nope"}])), (400,),
                "nope")
    check_error("%s: unknown output parameter" % model, d.json("POST", path, dict(req, outputs=[
        {"name": "nope", "parameters": {"no_such_param": 1}}])), (400,))
    check_error("%s: shape of rank 0" % model, d.json("POST", path, {"inputs": [dict(tensor, shape=[])]}), (400,))
    check_error("%s: binary part shorter than binary_data_size" % model, post_binary(d, path, {"inputs": [
        {k: v for k, v in tensor.items() if k != "data"} | {"parameters": {"binary_data_size": 64}}]}, [b"\0" * 10]),
                (400,))


def stock_client(d, images, probs, text_probs):
    """What tritonclient.http sends ([TC]): InferInput.set_data_from_numpy(binary_data=True)
    makes {"name", "shape", "datatype", "parameters": {"binary_data_size": N}} with no "data";
    _get_inference_request adds "parameters": {"binary_data_output": true} when no outputs are
    named, or sends InferRequestedOutput's {"name", "parameters": {"binary_data": true}}
    (and "classification": K for class_count); the body is the JSON then the raw bytes, with
    Inference-Header-Content-Length and no Content-Type of its own (geventhttpclient adds none)."""
    path = "/v2/models/fashion-cnn/infer"
    fp32 = struct.pack("<%df" % (784 * len(images)), *[v for img in images for v in tg.preprocess(img)])
    inp = {"name": "input", "shape": [len(images), 1, 28, 28], "datatype": "FP32",
           "parameters": {"binary_data_size": len(fp32)}}
    header = {"inputs": [inp], "parameters": {"binary_data_output": True}}
    check("tritonclient request conforms to inference_request", not schema_errors("inference_request", header))
    r = check_infer_answer("tritonclient: binary FP32 in, no outputs named", post_binary(d, path, header, [fp32], None),
                           "fashion-cnn", binary=True)
    check("tritonclient: as_numpy('probabilities') gives the JSON answer",
          close(r.get("probabilities", (0, 0, []))[2], probs, 1e-6), r)
    header = {"id": "tc-7", "inputs": [inp], "outputs": [
        {"name": "probabilities", "parameters": {"classification": 2, "binary_data": True}}]}
    r = check_infer_answer("tritonclient: InferRequestedOutput(class_count=2)", post_binary(d, path, header, [fp32], None),
                           "fashion-cnn", request_id="tc-7", binary=True)
    if "probabilities" in r:
        check_classification("tritonclient class_count=2", r["probabilities"][2], r["probabilities"][0], 2, probs, 10,
                             labels_of("fashion-cnn"))
    header = {"inputs": [inp], "outputs": [{"name": "probabilities", "parameters": {"binary_data": False}}]}
    r = check_infer_answer("tritonclient: InferRequestedOutput(binary_data=False)",
                           post_binary(d, path, header, [fp32], None), "fashion-cnn")
    check("tritonclient binary_data=False: JSON probabilities", close(r.get("probabilities", (0, 0, []))[2], probs, 1e-6),
          r)
    # a BYTES input the way serialize_byte_tensor writes it
    texts = ["I loved it", "The food was cold and the waiter rude."]
    blob = encode_bytes_tensor(texts)
    header = {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES",
                          "parameters": {"binary_data_size": len(blob)}}], "parameters": {"binary_data_output": True}}
    r = check_infer_answer("tritonclient: binary BYTES in", post_binary(d, "/v2/models/sentiment-lstm/infer", header,
                                                                        [blob], None), "sentiment-lstm", binary=True)
    got = next(iter(r.values()), (0, 0, []))[2]
    check("tritonclient BYTES: the JSON answer", close(got, text_probs, 1e-6), r)
    # KServe's Python client (kserve/kserve python/kserve/kserve/protocol/infer_type.py,
    # InferRequest.to_rest): always an "id" (a uuid4 when none is set) and "model_name" in the
    # body; raw inputs follow a JSON part whose length it returns for the header. [BIN]'s own
    # example request carries "model_name" too.
    kserve_json = {"id": "0b6a4a1e-8d0f-4a55-9a0e-3c1f1b0e2d7c", "model_name": "fashion-cnn",
                   "inputs": [fp32_input(images)]}
    r = post(d, path, kserve_json)
    check("kserve client: JSON request with \"model_name\" in the body: 200", r[0] == 200, r[2])
    r = post_binary(d, path, {"id": "0b6a4a1e", "model_name": "fashion-cnn", "inputs": [inp]}, [fp32])
    check("kserve client: binary request with \"model_name\" in the body: 200", r[0] == 200, r[2])
    check_error("a body's \"model_name\" that is not the route's model",
                post(d, path, dict(kserve_json, model_name="sentiment-lstm")), (400,), "model_name")
    versions = d.json("GET", "/v2/models/fashion-cnn")[2]["versions"]
    r = post(d, path, dict(kserve_json, model_version=versions[-1]))
    check("kserve client: \"model_version\" %s in the body: 200 from that version" % versions[-1],
          r[0] == 200 and r[2].get("model_version") == versions[-1], r[2])
    check_error("a body's \"model_version\" that is not the route's version",
                post(d, "/v2/models/fashion-cnn/versions/%s/infer" % versions[-1],
                     dict(kserve_json, model_version=str(int(versions[-1]) + 1))), (400,), "model_version")
    # tritonclient's request_compression_algorithm="gzip": gliad does not inflate bodies, so
    # the client must hear so in a 4xx, not get a model run on bytes it did not mean
    body = gzip.compress(json.dumps({"inputs": [fp32_input(images)]}).encode())
    check_error("tritonclient: a gzip body (Content-Encoding: gzip)",
                post(d, path, body, {"Content-Encoding": "gzip", "Content-Type": "application/json"}), (400, 415))
    # the JSON form of InferInput(binary_data=False): flat "data", no parameters at all
    r = check_infer_answer("tritonclient: JSON FP32 in (binary_data=False)", post(d, path, {
        "inputs": [fp32_input(images)], "outputs": [{"name": "probabilities", "parameters": {"binary_data": False}}]}),
        "fashion-cnn")
    check("tritonclient JSON: the same", close(r.get("probabilities", (0, 0, []))[2], probs, 1e-6), r)


def main():
    if len(sys.argv) != 3:
        print("usage: test_oip_conformance.py GLIAD GLIA", file=sys.stderr)
        return 2
    gliad = sys.argv[1]
    missing = [m for m, p in MODELS.items() if not os.path.exists(os.path.join(p, "model.safetensors"))]
    if missing:
        print("1..0 # SKIP shipped models without weights: %s" % ", ".join(missing))
        return 77
    images = tg.fashion_test_images(3)
    tmp = tempfile.mkdtemp(prefix="glia-oip-")
    d = tg.Daemon(gliad, tmp, extra_models=[(m, MODELS[m]) for m in ("sentiment-lstm", "translate-en-es")])
    asked = d.request

    def request(*args, **kwargs):
        """A request that gets no answer (gliad crashed or dropped it) is a failed check with
        the reason, and the run goes on to list every other failure."""
        try:
            return asked(*args, **kwargs)
        except (OSError, http.client.HTTPException) as e:
            return 0, {}, ("no answer: %r" % e).encode()
    d.request = request
    try:
        if not check("gliad starts with the three shipped families", d.port is not None, d.text()[-2000:]):
            print("1..%d" % len(tg.results))
            return 1
        server_routes(d, {"images": images})
        versions = {}
        for model in MODELS:
            versions[model] = model_routes(d, model)[1] or "1"
        probs = image_family(d, images, versions["fashion-cnn"])
        image_errors(d, images)
        text_probs = text_family(d, versions["sentiment-lstm"])
        translation_family(d, versions["translate-en-es"])
        for model, tensor in (("fashion-cnn", fp32_input(images[:1])),
                              ("sentiment-lstm", {"name": "text", "shape": [1], "datatype": "BYTES", "data": ["Fine."]}),
                              ("translate-en-es", {"name": "text", "shape": [1], "datatype": "BYTES", "data": ["Fine."]})):
            every_family_errors(d, model, tensor)
        stock_client(d, images, probs, text_probs)
        rc = d.stop()
        check("SIGTERM drains and exits 0", rc == 0, "exit %s" % rc)
        check("no sanitizer report in the log", "runtime error" not in d.text() and "Sanitizer" not in d.text(),
              d.text()[-1500:])
    finally:
        if d.proc.poll() is None:
            d.stop(timeout=5)
    print("# conformance: %d checks passed" % (len(tg.results) - len(failures) - len(known)))
    for name in known:
        print("# KNOWN BUG (TODO): " + name)
    for name in failures:
        print("# FAILED: " + name)
    print("1..%d" % len(tg.results))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
# test_openapi.py - api-spec/openapi.yaml is a valid OpenAPI 3.1 document (linted by
# @seriousme/openapi-schema-validator from the npm registry, which scripts/setup --test
# installs under .cache/npm), and the real daemon's answers match it: every route and
# every error is requested, and each body is validated against the schema the spec
# gives for its path, method, status and media type (python3-jsonschema). TAP output.
#
# Usage: test_openapi.py GLIAD GLIA
import base64
import json
import os
import subprocess
import sys
import tempfile
import shutil

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_gliad as tg  # noqa: E402

ROOT = tg.ROOT
SPEC = os.path.join(ROOT, "api-spec", "openapi.yaml")
VALIDATOR = os.path.join(ROOT, ".cache", "npm", "node_modules", ".bin", "validate-api")


def main():
    gliad = sys.argv[1]
    print("1..4")
    if not os.path.exists(VALIDATOR):
        tg.check("the spec lints clean", False, "%s is missing: run scripts/setup --test" % VALIDATOR)
    else:
        p = subprocess.run([VALIDATOR, SPEC], capture_output=True, text=True)
        tg.check("the spec lints clean (validate-api)", p.returncode == 0 and '"valid": true' in p.stdout,
                 p.stdout + p.stderr)
        # the linter must be able to fail: a dangling $ref
        bad = os.path.join(tempfile.mkdtemp(), "bad.yaml")
        with open(SPEC) as f, open(bad, "w") as g:
            g.write(f.read().replace("#/components/schemas/PredictResponse", "#/components/schemas/Nope", 1))
        p = subprocess.run([VALIDATOR, bad], capture_output=True, text=True)
        tg.check("and rejects a spec with a dangling $ref", '"valid": true' not in p.stdout, p.stdout)
        shutil.rmtree(os.path.dirname(bad))

    with open(SPEC) as f:
        spec = yaml.safe_load(f)
    resolver = jsonschema.RefResolver.from_schema(spec)

    def schema_for(path, method, status, ctype):
        op = spec["paths"][path].get(method)
        if op is None and method == "options" and status == 204:  # the shared answer to OPTIONS
            resp = spec["components"]["responses"]["Options"]
        elif op is None:  # a method the path does not take: the spec's shared 405 answer
            resp = spec["components"]["responses"]["MethodNotAllowed"] if status == 405 else None
        else:
            resp = op["responses"].get(str(status))
        if resp is None:
            raise KeyError("status %d is not documented for %s %s" % (status, method.upper(), path))
        if "$ref" in resp:
            resp = resolver.resolve(resp["$ref"])[1]
        media = ctype.split(";")[0].strip()
        if status == 204 and not media and "content" not in resp:
            return {"const": ""}  # no body
        if media not in resp.get("content", {}):
            raise KeyError("%s %s %d: media type %s is not documented" % (method.upper(), path, status, media))
        return resp["content"][media]["schema"]

    images = tg.fashion_test_images(2)
    png = tg.png_bytes(images[0])
    tmp = tempfile.mkdtemp(prefix="glia-test-openapi-")
    d = tg.Daemon(gliad, tmp, extra_models=[("sentiment-lstm", os.path.join(ROOT, "models", "sentiment-lstm")),
                                            ("translate-en-es", os.path.join(ROOT, "models", "translate-en-es"))],
                  extra="console: {dir: %s}\n" % os.path.join(ROOT, "daemon", "console"))
    text = {"Content-Type": "text/plain; charset=utf-8"}
    admin = {"Authorization": "Bearer s3cret-admin-token"}
    calls = [
        ("/healthz", "get", "/healthz", None, {}),
        ("/readyz", "get", "/readyz", None, {}),
        # the web console's files (issue 15)
        ("/", "get", "/", None, {}),
        ("/", "post", "/", b"", {}),
        ("/console/{name}", "get", "/console/app.js", None, {}),
        ("/console/{name}", "get", "/console/style.css", None, {}),
        ("/console/{name}", "get", "/console/..", None, {}),
        ("/console/{name}", "get", "/console/nope.js", None, {}),
        ("/metrics", "get", "/metrics", None, {}),
        ("/v1/models", "get", "/v1/models", None, {}),
        ("/v1/models/{name}", "get", "/v1/models/fashion-cnn", None, {}),
        ("/v1/models/{name}", "get", "/v1/models/nope", None, {}),
        ("/v1/models/{name}", "post", "/v1/models/fashion-cnn", b"", {}),
        ("/v1/predict", "post", "/v1/predict",
         {"model": "fashion-cnn", "inputs": [{"image": base64.b64encode(png).decode()}]}, {}),
        ("/v1/predict", "post", "/v1/predict", b"{oops", {"Content-Type": "application/json"}),
        ("/v1/predict", "post", "/v1/predict", {"model": "nope", "inputs": []}, {}),
        ("/v1/predict", "post", "/v1/predict", {"model": "fashion-cnn", "inputs": [{"image": "aGVsbG8="}]}, {}),
        ("/v1/predict", "get", "/v1/predict", None, {}),
        ("/v1/predict", "options", "/v1/predict", None, {}),
        ("/v2/models/{name}/infer", "options", "/v2/models/fashion-cnn/infer", None, {}),
        ("/v1/models/{name}/predict", "post", "/v1/models/fashion-cnn/predict", png, {"Content-Type": "image/png"}),
        ("/v1/models/{name}/predict", "post", "/v1/models/fashion-cnn/predict", b"x", {"Content-Type": "text/plain"}),
        ("/v1/models/{name}/reload", "post", "/v1/models/fashion-cnn/reload", b"", {}),
        ("/v1/models/{name}/reload", "post", "/v1/models/fashion-cnn/reload", b"", admin),
        ("/v1/models/{name}/reload", "post", "/v1/models/nope/reload", b"", admin),
        ("/v2", "get", "/v2", None, {}),
        ("/v2/health/live", "get", "/v2/health/live", None, {}),
        ("/v2/health/ready", "get", "/v2/health/ready", None, {}),
        ("/v2/models/{name}", "get", "/v2/models/fashion-cnn", None, {}),
        ("/v2/models/{name}", "get", "/v2/models/nope", None, {}),
        ("/v2/models/{name}/ready", "get", "/v2/models/fashion-cnn/ready", None, {}),
        ("/v2/models/{name}/infer", "post", "/v2/models/fashion-cnn/infer",
         {"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32",
                      "data": tg.preprocess(images[1])}]}, {}),
        ("/v2/models/{name}/infer", "post", "/v2/models/fashion-cnn/infer", {"inputs": []}, {}),
        # OIP v2 per version, its datatypes, parameters and outputs (issue 14)
        ("/v2/models/{name}/versions/{version}", "get", "/v2/models/fashion-cnn/versions/1", None, {}),
        ("/v2/models/{name}/versions/{version}", "get", "/v2/models/fashion-cnn/versions/9", None, {}),
        ("/v2/models/{name}/versions/{version}/ready", "get", "/v2/models/fashion-cnn/versions/1/ready", None, {}),
        ("/v2/models/{name}/versions/{version}/ready", "get", "/v2/models/fashion-cnn/versions/9/ready", None, {}),
        ("/v2/models/{name}/versions/{version}/infer", "post", "/v2/models/fashion-cnn/versions/1/infer",
         {"id": "r1", "parameters": {"top_k": 2},
          "inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "UINT8", "data": list(images[1])}]}, {}),
        ("/v2/models/{name}/versions/{version}/infer", "post", "/v2/models/fashion-cnn/versions/9/infer",
         {"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "UINT8", "data": list(images[1])}]}, {}),
        ("/v2/models/{name}/infer", "post", "/v2/models/fashion-cnn/infer",
         {"parameters": {"bogus": 1}, "inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "UINT8",
                                                  "data": list(images[1])}]}, {}),
        # the text model
        ("/v1/models/{name}", "get", "/v1/models/sentiment-lstm", None, {}),
        ("/v1/predict", "post", "/v1/predict", {"model": "sentiment-lstm", "inputs": ["I loved it", {"text": "meh"}]}, {}),
        ("/v1/predict", "post", "/v1/predict", {"model": "sentiment-lstm", "inputs": [""]}, {}),
        ("/v1/predict", "post", "/v1/predict", {"model": "sentiment-lstm", "inputs": ["x" * 70000]}, {}),
        ("/v1/models/{name}/predict", "post", "/v1/models/sentiment-lstm/predict", b"Great value", text),
        ("/v1/models/{name}/predict", "post", "/v1/models/sentiment-lstm/predict", b"\xff", text),
        ("/v2/models/{name}", "get", "/v2/models/sentiment-lstm", None, {}),
        ("/v2/models/{name}/infer", "post", "/v2/models/sentiment-lstm/infer",
         {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["good", "bad"]}]}, {}),
        ("/v2/models/{name}/infer", "post", "/v2/models/sentiment-lstm/infer",
         {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [""]}]}, {}),
        # explanations (issue 15)
        ("/v1/models/{name}/explain", "post", "/v1/models/fashion-cnn/explain",
         {"inputs": [{"image": base64.b64encode(png).decode()}], "format": "png"}, {}),
        ("/v1/models/{name}/explain", "post", "/v1/models/fashion-cnn/explain", png, {"Content-Type": "image/png"}),
        ("/v1/models/{name}/explain", "post", "/v1/models/fashion-cnn/explain",
         {"inputs": [{"image": base64.b64encode(png).decode()}], "method": "smoothgrad", "samples": 99}, {}),
        ("/v1/models/{name}/explain", "post", "/v1/models/sentiment-lstm/explain",
         {"inputs": ["I loved it"], "method": "integrated_gradients", "steps": 8, "target": "negative"}, {}),
        ("/v1/models/{name}/explain", "post", "/v1/models/sentiment-lstm/explain", b"Great value", text),
        ("/v1/models/{name}/explain", "post", "/v1/models/sentiment-lstm/explain", {"inputs": ["ok"], "target": 7}, {}),
        ("/v1/models/{name}/explain", "post", "/v1/models/translate-en-es/explain", {"inputs": ["File"]}, {}),
        ("/v1/models/{name}/explain", "post", "/v1/models/translate-en-es/explain",
         {"inputs": ["File"], "layers": "all"}, {}),
        ("/v1/models/{name}/explain", "post", "/v1/models/translate-en-es/explain",
         {"inputs": ["File"], "layers": "some"}, {}),
        ("/v1/models/{name}/explain", "get", "/v1/models/fashion-cnn/explain", None, {}),
        # the translation model
        ("/v1/models/{name}", "get", "/v1/models/translate-en-es", None, {}),
        ("/v1/predict", "post", "/v1/predict", {"model": "translate-en-es", "inputs": ["Cannot open file"],
                                                "beam_size": 2, "max_tokens": 32}, {}),
        ("/v1/predict", "post", "/v1/predict", {"model": "translate-en-es", "inputs": ["File", "x"], "max_tokens": 1}, {}),
        ("/v1/predict", "post", "/v1/predict", {"model": "translate-en-es", "inputs": [" "]}, {}),
        ("/v1/predict", "post", "/v1/predict", {"model": "translate-en-es", "inputs": ["ok"], "beam_size": 0}, {}),
        ("/v1/models/{name}/predict", "post", "/v1/models/translate-en-es/predict", b"Write error", text),
        ("/v2/models/{name}", "get", "/v2/models/translate-en-es", None, {}),
        ("/v2/models/{name}/infer", "post", "/v2/models/translate-en-es/infer",
         {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["File not found", "Done"]}]}, {}),
        ("/v2/models/{name}/infer", "post", "/v2/models/translate-en-es/infer",
         {"parameters": {"beam_size": 2, "max_tokens": 8}, "outputs": [{"name": "tokens"}],
          "inputs": [{"name": "input_ids", "shape": [1, 2], "datatype": "INT64", "data": [[1809, 3]]}]}, {}),
        # uploads
        ("/v1/datasets", "post", "/v1/datasets?format=jsonl", b'{"text": "fine", "label": 1}\n', admin),
        ("/v1/datasets", "post", "/v1/datasets?format=jsonl", b'{"text": "fine"}\n', admin),
        ("/v1/datasets", "post", "/v1/datasets", b"a\tb\n", dict(admin, **{"Content-Type": "text/csv"})),
        ("/v1/datasets", "post", "/v1/datasets?format=tsv", b"a\tb\n", {}),
        ("/v1/datasets", "get", "/v1/datasets", None, admin),
        ("/v1/datasets", "delete", "/v1/datasets", None, admin),
        # training: a dry run and a real (tiny) job, its listing, cancel, resume, promotion
        ("/v1/train", "post", "/v1/train", {"model": "fashion-cnn", "dry_run": True}, admin),
        ("/v1/train", "post", "/v1/train", {"model": "fashion-cnn"}, {}),
        ("/v1/train", "post", "/v1/train", {"model": "fashion-cnn", "recipe": {"epochs": 0}}, admin),
        ("/v1/train", "post", "/v1/train", {"model": "fashion-cnn", "dataset": {"limit": 300, "validation": 50},
                                            "recipe": {"epochs": 1}}, admin),
        ("/v1/train", "get", "/v1/train", None, admin),
        ("/v1/jobs", "get", "/v1/jobs", None, admin),
        ("/v1/jobs", "get", "/v1/jobs?status=bogus", None, admin),
        ("/v1/jobs/{id}", "get", "/v1/jobs/JOB", None, admin),
        ("/v1/jobs/{id}", "get", "/v1/jobs/nope", None, admin),
        ("/v1/jobs/{id}/resume", "post", "/v1/jobs/JOB/resume", b"", admin),
        ("/v1/jobs/{id}/history", "get", "/v1/jobs/JOB/history", None, admin),
        ("/v1/jobs/{id}/history", "get", "/v1/jobs/JOB/history?since=1&limit=1", None, admin),
        ("/v1/jobs/{id}/history", "get", "/v1/jobs/JOB/history?since=x", None, admin),
        ("/v1/jobs/{id}/history", "get", "/v1/jobs/nope/history", None, admin),
        ("/v1/jobs/{id}/cancel", "post", "/v1/jobs/nope/cancel", b"", admin),
        ("/v1/jobs/{id}", "delete", "/v1/jobs/JOB", None, admin),
        ("/v1/models/{name}/versions/{version}/promote", "post", "/v1/models/fashion-cnn/versions/1/promote",
         b"", admin),
        ("/v1/models/{name}/versions/{version}/promote", "post", "/v1/models/fashion-cnn/versions/99/promote",
         b"", admin),
        ("/v1/models/{name}/versions/{version}/promote", "post", "/v1/models/fashion-cnn/versions/1/promote",
         b"", {}),
    ]
    problems, statuses = [], set()
    try:
        job_id = None
        for template, method, path, body, headers in calls:
            if "JOB" in path:
                path = path.replace("JOB", job_id or "none")
            status, h, data = d.request(method.upper(), path, body, headers)
            if template == "/v1/train" and status == 202:
                job_id = json.loads(data)["id"]
            statuses.add(status)
            ctype = h.get("content-type", "")
            try:
                schema = schema_for(template, method, status, ctype)
                instance = data.decode() if ctype.startswith("text/") or status == 204 else json.loads(data)
                jsonschema.Draft202012Validator(schema, resolver=resolver).validate(instance)
                if "x-request-id" not in h:
                    raise ValueError("no X-Request-Id header")
            except (KeyError, ValueError, jsonschema.ValidationError) as e:
                problems.append("%s %s -> %d %s: %s" % (method.upper(), path, status, ctype, str(e)[:300]))
        tg.check("%d answers (statuses %s) match the spec" % (len(calls), sorted(statuses)), not problems,
                 "\n".join(problems))
        tg.check("the daemon stops cleanly", d.stop() == 0, d.text()[-1000:])
    finally:
        if d.proc.poll() is None:
            d.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all(tg.results) else 1


if __name__ == "__main__":
    sys.exit(main())

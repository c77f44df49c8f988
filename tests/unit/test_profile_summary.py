"""``make profile``'s summary attributes each sampled stack to the sandbox process it came from."""

from bench.profile_summary import summarize

WORKER = 'process 41:"/work/.venv/bin/python -m sandbox.runtime.worker 5";serve (sandbox/runtime/worker.py:60) 3'
AWS = (
    'process 9:"/work/.venv/bin/python -m sandbox.aws.server --port 4566";'
    "ExecutionWorker._get_evaluation_entrypoint (moto/stepfunctions/parser/backend/execution_worker.py:61);"
    "Preprocessor.visitProgram_decl (moto/stepfunctions/parser/asl/parse/preprocessor.py:1003);"
    "parse (jsonpath_ng/parser.py:40) 2"
)


def test_workers_and_the_embedded_aws_are_told_apart_and_the_watched_costs_counted() -> None:
    summary = summarize([WORKER, AWS])
    assert "Lambda workers: 60.0 % of all samples" in summary
    assert "embedded AWS: 40.0 % of all samples" in summary
    assert "100.0 %  ASL components built (Preprocessor) (inclusive)" in summary
    assert "100.0 %  JSONPath parses (jsonpath-ng) (inclusive)" in summary

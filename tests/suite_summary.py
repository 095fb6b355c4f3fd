"""suite_summary.py - a pytest plugin (-p suite_summary) that ends a run with
one line naming its suite, "$ED_TEST_LABEL: N passed, N failed, N skipped",
like tests/run's, so every summary in a `make test` log says what it counts."""
import os


def pytest_terminal_summary(terminalreporter):
    stats = terminalreporter.stats
    passed = len(stats.get("passed", []))
    failed = len(stats.get("failed", [])) + len(stats.get("error", []))
    skipped = len(stats.get("skipped", []))
    label = os.environ.get("ED_TEST_LABEL", "pytest")
    terminalreporter.write_line(f"{label}: {passed} passed, {failed} failed, {skipped} skipped")

"""Property-based fuzzing of the sweep parser: any input is a Sweep or a UserInputError."""

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suite.axes import AXES
from suite.errors import UserInputError
from suite.names import check_name
from suite.sweep import parse_sweep

HOSTILE_TEXT = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["../../etc/passwd", "a\nb", "$(reboot)", "`id`", "x;rm -rf /", "'\"",
                     "\x00", "tiny\n#SBATCH --uid=0", "." * 3, "-rf"]),
)
SCALAR = st.one_of(HOSTILE_TEXT, st.integers(-10, 10**6), st.booleans(), st.floats(),
                   st.none())
VALUE = st.one_of(SCALAR, st.lists(SCALAR, max_size=4))
KEY = st.one_of(st.sampled_from([*AXES, "name", "reason", "repetitions"]), HOSTILE_TEXT)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(name=SCALAR, axes=st.dictionaries(KEY, VALUE, max_size=4),
       exclude=st.lists(st.dictionaries(KEY, VALUE, max_size=3), max_size=2),
       head=st.dictionaries(KEY, SCALAR, max_size=3))
def test_parser_accepts_or_refuses_cleanly(name, axes, exclude, head):
    data = {"sweep": {"name": name, **head}, "axes": axes, "exclude": exclude}
    try:
        sweep = parse_sweep(data, source="fuzz.toml")
    except UserInputError as e:
        assert "fuzz.toml" in str(e)  # every refusal names the file
        return
    # Whatever got through is safe to put in a path or a script.
    assert check_name(sweep.name, what="sweep name") == sweep.name
    for scenario in sweep.scenarios:
        assert all(c in string.hexdigits for c in scenario.run_id)
        for key, value in scenario.params:
            assert AXES[key].problem(value) is None

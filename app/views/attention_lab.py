"""Attention lab: the three attention implementations side by side, and the homework's bugs.

Everything here runs on random input with small sizes, so it is instant on a CPU.
"""

import inspect

import numpy as np
import streamlit as st

from app.components import charts
from app.components.page import open_page
from app.services import lab_tools
from vitcore.models import attention_check
from vitcore.models.cost import format_count, model_cost

open_page(
    ":material/science: Attention lab",
    "Self-attention is *one* formula, `softmax(Q·Kᵀ/√d)·V`, but it can be written in very different ways. "
    "Below are three implementations from `vitcore.models` that share the same weights and must give the same numbers, "
    "and the mistakes of the original homework encoder, which you can switch on and off one by one.",
)

# ------------------------------------------------------------------ source code
st.header("1 · Three ways to write the same attention")
from vitcore.models.attention import ATTENTION_VARIANTS  # noqa: E402

tabs = st.tabs([f"{name}" for name in ATTENTION_VARIANTS])
captions = {
    "loop": "One head at a time in a Python loop: every step is named, the easiest to read.",
    "einsum": "All heads at once: `einops.rearrange` gives the heads their own axis and `torch.einsum` does the products.",
    "fused": "`F.scaled_dot_product_attention`: one fused kernel (FlashAttention on GPUs), weights computed only when asked. "
    "Which one is fastest depends on the machine and the input size: section 3 measures it here.",
}
for tab, (name, variant) in zip(tabs, ATTENTION_VARIANTS.items()):
    with tab:
        st.caption(captions.get(name, ""))
        st.code(inspect.getsource(variant), language="python", line_numbers=True)

# ------------------------------------------------------------------ equivalence
# Sections 2 and 3 are fragments and keep their results in the session: pressing one button reruns only its own
# section, so the other section's result stays on the page (and both survive a rerun of the whole page).
EQUIVALENCE_KEY = "lab_equivalence_report"  # session key: (seed, EquivalenceReport) of the last check
TIMINGS_KEY = "lab_timings"  # session key: {variant: median seconds per forward pass} of the last timing


@st.fragment
def equivalence_section() -> None:
    """Section 2: copy one set of weights into every variant and compare their outputs."""
    left, right = st.columns([2, 3])
    with left:
        st.markdown(
            "The check copies one set of weights into all three modules, feeds them the same random tokens "
            "(batch 2, 17 tokens, width 64, 4 heads) and reports the largest absolute difference. "
            "Differences around 1e-7 are float32 rounding; anything above 1e-4 would be a bug."
        )
        seed = st.number_input("random seed", min_value=0, max_value=10_000, value=0, step=1, key="lab_seed")
        if st.button("Run equivalence check", key="lab_equivalence", type="primary"):
            st.session_state[EQUIVALENCE_KEY] = (int(seed), attention_check.check_equivalence(seed=int(seed)))
    with right:
        if EQUIVALENCE_KEY not in st.session_state:
            st.info("Press **Run equivalence check** to compare the outputs.")
            return
        checked_seed, report = st.session_state[EQUIVALENCE_KEY]
        rows = [
            {"compared with loop": name, "max |Δ output|": report.output_diff[name], "max |Δ weights|": report.weight_diff.get(name, float("nan"))}
            for name in report.output_diff
        ]
        st.dataframe(rows, hide_index=True)
        worst = max(report.output_diff.values())
        if worst < 1e-4:
            st.success(
                f"All variants agree (largest difference {worst:.1e}, seed {checked_seed}); every attention row sums to 1 "
                f"within {report.row_sum_error:.1e}."
            )
        else:
            st.error(f"The variants disagree by up to {worst:.3g} (seed {checked_seed}): one implementation is wrong.")


@st.fragment
def timing_section() -> None:
    """Section 3: time each variant on this server and say in words what was measured."""
    left, right = st.columns([2, 3])
    with left:
        st.markdown(
            "Each variant runs a forward pass on a batch of 32 sequences of 17 tokens (the 4×4 patches plus CLS of a 64 px image), "
            "width 256 with 8 heads; the median of 10 repeats is shown. The loop pays Python overhead for every head, "
            "and the fused kernel never builds the N×N matrix in memory, but with only 17 tokens that matrix is tiny: "
            "on a CPU the order can come out either way, and the differences are small."
        )
        if st.button("Time loop vs einsum vs fused", key="lab_timing"):
            bar = st.progress(0.0, text="warming up…")
            st.session_state[TIMINGS_KEY] = attention_check.time_variants(
                progress=lambda done, total, message: bar.progress(done / total, text=message)
            )
            bar.empty()
    with right:
        if TIMINGS_KEY not in st.session_state:
            st.info("Press the timing button; it takes about a second.")
            return
        timings = st.session_state[TIMINGS_KEY]
        st.plotly_chart(charts.timing_bar(timings), key="lab_timing_chart")
        st.caption(lab_tools.timing_summary(timings))


st.header("2 · Are they really the same?")
equivalence_section()

st.header("3 · How fast is each one on this machine?")
timing_section()

# ------------------------------------------------------------------ homework bugs
st.header("4 · The homework's bugs, one switch each")
from vitcore.models.config import HomeworkBugs  # noqa: E402

bug_help = {
    "softmax_over_queries": "softmax normalises each **column** (over the queries) instead of each row: rows no longer sum to 1.",
    "scale_after_softmax": "1/√d multiplies the probabilities after the softmax: every row sums to 1/√d instead of 1.",
    "einsum_unsplit_heads": "the einsum version never splits the heads: one big head over the full width.",
    "flattened_sequence_layers": "Q/K/V and MLP Linears act on the whole flattened sequence (N·d inputs): a huge parameter count.",
    "no_output_projection": "heads are concatenated with no output Linear, so head h only ever sees features h·d…(h+1)·d.",
}
left, right = st.columns([2, 3])
with left:
    st.markdown("Tick a box to put that mistake back. The matrix is layer 1, head 1 of a tiny homework ViT on a random image.")
    switches = {}
    for bug_field in HomeworkBugs.__dataclass_fields__:
        switches[bug_field] = st.checkbox(bug_field.replace("_", " "), value=False, key=f"bug_{bug_field}", help=bug_help.get(bug_field))
    bugs = HomeworkBugs(**switches)
    active = [name for name, on in switches.items() if on]
    for name in active:
        st.caption(f"• **{name.replace('_', ' ')}**: {bug_help.get(name, '')}")


@st.cache_data(show_spinner=False)
def _homework_numbers(switch_values: tuple[tuple[str, bool], ...]) -> tuple[np.ndarray, int]:
    chosen = HomeworkBugs(**dict(switch_values))
    matrix = lab_tools.homework_attention(chosen)
    parameters = model_cost(lab_tools.homework_size_config(chosen)).parameters
    return matrix, parameters


with right:
    matrix, homework_parameters = _homework_numbers(tuple(sorted(switches.items())))
    row_sums = matrix.sum(axis=1)
    st.plotly_chart(
        charts.token_matrix(matrix, num_prefix_tokens=1, title="attention weights (rows = queries)")
    )
    metric_left, metric_mid, metric_right = st.columns(3)
    metric_left.metric("row sums: min", f"{row_sums.min():.3f}")
    metric_mid.metric("row sums: max", f"{row_sums.max():.3f}")
    metric_right.metric("parameters at homework size", format_count(homework_parameters))
    if np.allclose(row_sums, 1.0, atol=1e-4):
        st.success("Every row sums to 1: each query spreads exactly one unit of attention over the tokens.")
    else:
        st.warning("The rows do **not** sum to 1, so this is no longer a weighted average over the tokens.")
    st.caption(
        "Parameter count is computed for the homework's full-size configuration on PyTorch's *meta* device "
        "(shapes only, no memory), so even half a billion weights cost nothing to count."
    )

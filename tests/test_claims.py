"""Every sentence of `claims.CLAIMS` is in its chapter and holds for the chapter's committed outputs."""
import pytest

import claims
import claims_05


@pytest.mark.parametrize("claim", claims.all_claims(), ids=lambda claim: f"{claim.chapter[:2]}: {claim.sentence[:40]}")
def test_the_sentence_is_there_and_its_output_backs_it(claim):
    notebook = claims.load(claim.chapter)
    assert claims.folded(claim.sentence) in claims.prose(notebook), "the sentence is gone: update or drop its claim"
    output = claims.tagged_output(notebook, claim.output)
    assert output, f"the cell tagged {claim.output} has no committed output: run the chapter"
    assert claim.holds(output), f"the committed output no longer backs: {claim.sentence!r}"


def test_a_claim_fails_when_the_number_it_rests_on_changes():
    # The near target's verdicts, as if a re-run had found transfer within the noise there.
    notebook = claims.load(claims_05.CH05)
    output = claims.tagged_output(notebook, "output-verdicts")
    rerun = "\n".join(line.replace("above", "within the noise") if line.startswith("near") else line
                      for line in output.splitlines())
    claim = next(c for c in claims_05.CLAIMS if c.sentence.startswith("there transfer beats scratch"))
    assert claim.holds(output) and not claim.holds(rerun)
    # The calibration's false-positive rate, as if it had risen to 9 %.
    output = claims.tagged_output(notebook, "output-calibration")
    first = claims_05.calibration_row(output, "same setting, probes, 3")[claims_05.KIT]
    worse = output.replace(first, "9 %".rjust(len(first)), 1)
    claim = next(c for c in claims_05.CLAIMS if c.sentence.startswith("The kit's comparison stays"))
    assert claim.holds(output) and not claim.holds(worse)

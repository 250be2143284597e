"""The Gradio Space (examples/space/app.py): started on 127.0.0.1 in its own process, called through gradio_client;
its answers must equal the pipelines' run here."""

import pytest
import torch

from utils.space import running_space

gradio_client = pytest.importorskip("gradio_client")


@pytest.mark.slow
def test_space_classifies_and_searches_through_gradio_client(tmp_path):
    from transformers import pipeline

    from protst_hf import ProteinIndex, ProtSTModel
    from protst_hf.resources import demo_config, demo_processor

    torch.manual_seed(0)
    ProtSTModel(demo_config()).save_pretrained(tmp_path / "model")
    demo_processor().save_pretrained(tmp_path / "model")
    with running_space(["--model", str(tmp_path / "model"), "--index", str(tmp_path / "index")]) as url:
        client = gradio_client.Client(url, verbose=False)
        sequence, labels = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", ["Nucleus", "Cytoplasm", "Secreted"]
        answer = client.predict(sequence, ", ".join(labels), "SUBCELLULAR LOCATION: {}.", api_name="/classify")
        classify = pipeline("zero-shot-protein-classification", model=str(tmp_path / "model"), trust_remote_code=True)
        expected = classify(sequence, candidate_labels=labels)
        got = {c["label"]: c["confidence"] for c in answer["confidences"]}
        assert answer["label"] == expected["labels"][0]
        assert all(abs(got[k] - v) < 1e-5 for k, v in zip(expected["labels"], expected["scores"]))

        hits = client.predict("FUNCTION: Binds ATP.", 5, api_name="/search")
        index = ProteinIndex.load(tmp_path / "index")  # built by the app on first start
        assert len(index) > 150
        retrieve = pipeline("protein-text-retrieval", model=str(tmp_path / "model"), trust_remote_code=True)
        want = retrieve("FUNCTION: Binds ATP.", index=index, top_k=5)
        assert [row[0] for row in hits["data"]] == [h["id"] for h in want]
        assert all(row[2] for row in hits["data"])  # every hit carries its protein names

        with pytest.raises(Exception, match="invalid character '1' at position 2"):
            client.predict("MK1TAY", "Nucleus", "", api_name="/classify")

"""ProtST Space: zero-shot protein classification and text-to-protein search in the browser (Gradio).

    python app.py [--model MODEL] [--index INDEX_DIR] [--port 7860]

MODEL is a ProtST folder or Hub id (default: $PROTST_SPACE_MODEL, else the main job's `outputs/pretrain/best`).
The search tab runs over a small FAISS index of the Swiss-Prot sample shipped with protst-hf (about 200 reviewed
proteins with their names): built on first start under INDEX_DIR (default `space_index/` beside this file) with
`protst_hf.embedding.shards.embed_file` + `build_index`, then reused; an index built with another model is refused and
rebuilt. On a Hub Space, commit `space_index/` with the app so that startup needs no embedding.

Both tabs are API endpoints: `gradio_client.Client(URL).predict(sequence, labels, template, api_name="/classify")`
and `.predict(query, top_k, api_name="/search")`.
"""

import argparse
import os
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL = HERE.parents[1] / "outputs" / "pretrain" / "best"
EXAMPLE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKAL"
LOCATIONS = ("Nucleus, Cytoplasm, Secreted, Cell membrane, Mitochondrion, Endoplasmic reticulum, Golgi apparatus, "
             "Lysosome, Peroxisome, Plastid")


def build_space_index(model, processor, model_name: str, folder: Path):
    """The FAISS index of the built-in Swiss-Prot sample for `model` (built once, then loaded), and id -> name."""
    from protst_hf import ProteinIndex
    from protst_hf.embedding.shards import build_index, embed_file
    from protst_hf.models.protst.index_protst import MismatchedModelError, model_metadata
    from protst_hf.resources import demo_rows

    rows = demo_rows()
    names = {row["accession"]: row["prot_name"] for row in rows}
    if (folder / "index_metadata.json").exists():
        index = ProteinIndex.load(folder)
        try:
            index.check_queries(model_metadata(model, "text"))
            return index, names
        except MismatchedModelError:
            print(f"{folder} was built with another model: rebuilding it")
    with tempfile.TemporaryDirectory() as work:
        fasta = Path(work) / "sample.fasta"
        fasta.write_text("".join(f">{row['accession']}\n{row['sequence']}\n" for row in rows))
        embed_file(fasta, model, processor, Path(work) / "embeddings", progress=False)
        index = build_index(Path(work) / "embeddings", kind="flat")
    index.metadata["model"] = model_name
    index.save(folder)
    return index, names


def build_app(model_name: str, index_dir: Path):
    import gradio as gr
    from transformers import AutoModel, AutoProcessor, pipeline

    import protst_hf

    protst_hf.register()  # the Auto classes and pipelines of the installed package, no trust_remote_code

    model = AutoModel.from_pretrained(model_name).eval()
    processor = AutoProcessor.from_pretrained(model_name)
    classify_pipe = pipeline("zero-shot-protein-classification", model=model, processor=processor)
    retrieve_pipe = pipeline("protein-text-retrieval", model=model, processor=processor)
    index, names = build_space_index(model, processor, model_name, index_dir)

    def classify(sequence: str, labels: str, template: str) -> dict:
        candidates = [label.strip() for label in labels.replace("\n", ",").split(",") if label.strip()]
        if not candidates:
            raise gr.Error("give at least one label")
        try:
            result = classify_pipe(sequence, candidate_labels=candidates, hypothesis_template=template or None)
        except ValueError as err:  # invalid residues, empty sequence: shown to the user, not a stack trace
            raise gr.Error(str(err)) from err
        return dict(zip(result["labels"], result["scores"]))

    def search(query: str, top_k: float) -> list[list]:
        if not query.strip():
            raise gr.Error("type a description, e.g. 'FUNCTION: Binds ATP.'")
        hits = retrieve_pipe(query, index=index, top_k=int(top_k))
        return [[hit["id"], round(hit["score"], 4), names.get(hit["id"], "")] for hit in hits]

    with gr.Blocks(title="ProtST") as app:
        gr.Markdown(f"# ProtST\nModel `{model_name}`: zero-shot classification and text-to-protein search over "
                    f"{len(index)} Swiss-Prot proteins.")
        with gr.Tab("Zero-shot classification"):
            sequence = gr.Textbox(label="Protein sequence", lines=4, value=EXAMPLE)
            labels = gr.Textbox(label="Candidate labels (comma-separated)", value=LOCATIONS)
            template = gr.Textbox(label="Template", value="SUBCELLULAR LOCATION: {}.")
            scores = gr.Label(label="Scores", num_top_classes=10)
            gr.Button("Classify").click(classify, [sequence, labels, template], scores, api_name="classify")
        with gr.Tab("Text to protein search"):
            query = gr.Textbox(label="Description", value="FUNCTION: Binds ATP.")
            top_k = gr.Slider(1, 50, value=10, step=1, label="Top k")
            hits = gr.Dataframe(headers=["accession", "cosine", "protein names"], label="Hits")
            gr.Button("Search").click(search, [query, top_k], hits, api_name="search")
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("PROTST_SPACE_MODEL", str(DEFAULT_MODEL)))
    parser.add_argument("--index", default=str(HERE / "space_index"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    args = parser.parse_args()
    if not Path(args.model).exists() and "/" not in args.model:
        raise SystemExit(f"no model at {args.model}: run `bash scripts/run.sh` (the main job) or pass --model")
    build_app(args.model, Path(args.index)).launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()

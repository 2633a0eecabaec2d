"""The optional fast-path hooks of a detector: what the streaming scorers use when a detector
offers more than the contract's ``score`` / ``score_many``.

A detector that overrides none of them is scored correctly, only more slowly; one that does
must give the same scores through them as through ``score`` (the shared checks compare).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt


class FastPath:
    """Hooks with do-nothing defaults; ``Detector`` inherits them."""

    #: ``_score_many``'s work is per series, in compiled code that releases the GIL: parts of
    #: a batch can run on several threads (``StreamScorer.update_many(..., pool=...)``)
    split_batches: ClassVar[bool] = False

    def stream_record(self) -> npt.NDArray[np.void] | None:
        """This fitted detector as a member of a compiled streaming pass: its record (shape
        (1,), dtype ``anomalyd.detectors._kernels.RECORD``: its kernel's kind and the addresses
        of its fitted arrays), or None when it has no such kernel (the ensemble then scores it
        member class by member class through ``_score_many``)."""
        return None

    def prepare_streaming(self) -> None:
        """Precompute what streaming this fitted detector needs (``StreamScorer`` calls it; the
        service calls it right after a fit, on the fit worker, off the scoring path)."""
        return None

"""One error hierarchy for medzoo.

Every user-facing failure is a :class:`MedzooError`: its message says what must
hold, what was found (file, row, value) and what to do; ``fix`` optionally holds
the command that repairs the situation. The CLI prints ``message`` (and ``fix``)
on one line each and exits with status 2, without a traceback. Anything that is
not a ``MedzooError`` is a bug and keeps its traceback.
"""

from __future__ import annotations


class MedzooError(Exception):
    """Base of all user-facing errors."""

    exit_code = 2

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return self.message if not self.fix else f"{self.message} (fix: {self.fix})"


class ConfigError(MedzooError, ValueError):
    """A config, recipe, search space or argument is invalid (unknown key, bad value)."""


class UnknownNameError(MedzooError, KeyError):
    """A registry lookup failed; the message lists the close matches."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return MedzooError.__str__(self)


class DuplicateNameError(MedzooError, ValueError):
    """Something was registered twice under one name."""


class DatasetError(MedzooError):
    """A raw or prepared dataset is unusable."""


class DatasetFormatError(DatasetError):
    """A file does not have the format its dataset's spec says it must have."""


class LeakageError(DatasetError):
    """The leakage audit found a patient or an identical image in two splits."""


class ModelError(MedzooError):
    """A model cannot be built, loaded or used as asked."""


class PretrainedWeightsUnavailable(ModelError):
    """Pretrained weights are not in the local cache and the network is unreachable."""


class TrialError(MedzooError):
    """A trial could not run (unreadable data, diverged loss, bad config)."""


class DataUnreadableError(TrialError):
    """A trial's data cannot be read: retrying reads the same bytes, so the trial ends at once."""


class SweepError(MedzooError):
    """A sweep cannot start or resume."""


class ZooError(MedzooError):
    """A zoo entry is missing, invalid or unsafe."""


class EntryNotFoundError(ZooError):
    """No zoo entry (or revision) of that name."""


class UnsafeNameError(ZooError):
    """A name would escape the zoo root or contains forbidden characters."""


class IntegrityError(ZooError):
    """Weights do not match the sha256 recorded in the entry's config.json."""


class HubError(ZooError):
    """The Hugging Face Hub could not be reached or refused a request."""


class ClusterError(MedzooError):
    """Ray could not be started or reached, or a cluster command failed."""


class InputImageError(MedzooError):
    """An image given for prediction cannot be read or does not fit the model."""


class FormatError(MedzooError, ValueError):
    """A file medzoo reads (run.json, metrics.json, dataset.json, ...) breaks its typed contract."""


class StorageError(MedzooError, OSError):
    """A storage location (local folder, shared mount, s3:// or gs:// URI) cannot be used as asked."""

"""params.yaml sections `train` and `evaluate`."""

from pydantic import BaseModel, ConfigDict


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EvaluateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

"""params.yaml sections `embed` and `tokenize`."""

from pydantic import BaseModel, ConfigDict


class EmbedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenizeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

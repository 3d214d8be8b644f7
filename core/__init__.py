"""gatescope core: instrumented sequence models that hand back every internal value.

    import core
    core.available()                          # ['rnn', 'lstm', 'gru', 'transformer', 'bilstm', 'minilm']
    model = core.load("lstm")
    tr = model.trace("I grew up in France")   # a Trace: name -> tensor, plus tokens
    tr["layers.0.forward.forget_gate"]        # (T, H)
    model.predict("Apple is my favorite", k=5)

    core.load("minilm").trace("Apple is my favorite fruit")   # a pretrained BERT encoder (core/bert.py)

    core.instrument(my_torch_lstm).trace(x)   # the same for your own torch.nn module

No streamlit here: everything the app shows is computed by a function a notebook can call.
"""
from .instrument import instrument
from .models import CheckpointError, ModelConfig, WordModel, available, load, word_models
from .text import Vocab, encode, tokenize
from .trace import Trace

__all__ = ["instrument", "load", "available", "Trace", "WordModel", "ModelConfig", "CheckpointError", "word_models", "tokenize", "encode", "Vocab"]

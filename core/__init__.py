"""gatescope core: instrumented sequence models that hand back every internal value.

    import core
    core.available()                          # ['rnn', 'lstm', 'gru', 'transformer', 'bilstm', 'minilm']
    model = core.load("lstm")
    tr = model.trace("I grew up in France")   # a Trace: name -> tensor, plus tokens
    tr["layers.0.forward.forget_gate"]        # (T, H)
    model.predict("Apple is my favorite", k=5)
    model.score("The food was good")          # p, rank and surprisal of each actual next word
    core.attribution.saliency(model, "I grew up in France . I speak fluent")  # which words it rests on
    core.compare([model], "The food was good, not bad at all", "The food was bad, not good at all")

    core.load("minilm").trace("Apple is my favorite fruit")   # a pretrained BERT encoder (core/bert.py)

    core.instrument(my_torch_lstm).trace(x)   # the same for your own torch.nn module

No streamlit here: everything the app shows is computed by a function a notebook can call.
"""
from . import attribution, predictions
from .comparison import compare
from .instrument import instrument
from .models import CheckpointError, ModelConfig, WordModel, available, load, word_models
from .text import Vocab, encode, tokenize
from .trace import Trace

__all__ = ["compare", "attribution", "predictions", "instrument", "load", "available", "Trace", "WordModel", "ModelConfig", "CheckpointError", "word_models", "tokenize", "encode", "Vocab"]

"""repdyn: Koopman-autoencoder surrogates of a neural network's layer dynamics.

One module per stage of the study: ``data``, ``networks``, ``activations``,
``preprocessing``, ``koopman``, ``topology``, ``unlearning``; ``io`` and ``runtime``
are shared by all of them.
"""

__version__ = "0.1.0"

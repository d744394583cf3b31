"""Backbones behind one contract (``rotnet.models.base``).

Import what you need from the submodules: ``rotnet.models.registry`` (build by name,
loads torch and timm), ``rotnet.models.options`` (typed options, pydantic only),
``rotnet.models.saved`` (model files) and ``rotnet.models.heads`` (heads on a feature map,
which the files of fine-tuned networks rebuild). This package imports nothing itself, so that
validating params never loads torch.
"""

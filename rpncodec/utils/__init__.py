"""Tools around the codec (CompressAI keeps its own as ``compressai.utils``): evaluation,
classical anchors, BD-rates, plots, the HTML report, the fuzzer and test support.

Run as ``rpncodec eval|anchors|bdrate|plot|report`` or ``python -m rpncodec.utils.fuzz``.
"""

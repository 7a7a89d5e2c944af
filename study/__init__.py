"""The Qt-free application layer: what a FastMix Studio study is, how its pieces are checked,
assembled and exported, the demo study and the self-test. ``gui/`` binds widgets to it; it uses
``engine/`` (statistics) and ``gating/`` (cytometry), which know nothing of each other or of it.
"""

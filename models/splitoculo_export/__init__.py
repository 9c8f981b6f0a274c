"""Rebuilds the SplitOculo edge and cloud networks and exports them to ONNX.

The layer names and shapes follow the seed's checkpoints exactly (timm's
MobileNetV2 layout, the seed's projector, bottleneck and upsampler), so its
state dicts load with strict key matching.
"""

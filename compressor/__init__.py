"""The Deep Compression front-end: prune, share weights, Huffman-code, encode for EIE."""

from compressor.csc import EncodedLayer, compress_layer, interleave
from compressor.quantize import SharedWeights, share_weights

__all__ = ["EncodedLayer", "SharedWeights", "compress_layer", "interleave", "share_weights"]

"""The Deep Compression front-end: prune, share weights, Huffman-code, encode for EIE."""

from compressor.csc import EncodedLayer, compress_layer, interleave
from compressor.fileformat import CompressedModel, load_model, save_model
from compressor.huffman import HuffmanCode
from compressor.prune import apply_mask_to_torch, magnitude_mask, mask_from_torch, prune, structured_mask
from compressor.quantize import SharedWeights, share_weights
from compressor.report import StorageReport, storage_report

__all__ = [
    "CompressedModel", "EncodedLayer", "HuffmanCode", "SharedWeights", "StorageReport",
    "apply_mask_to_torch", "compress_layer", "interleave", "load_model", "magnitude_mask",
    "mask_from_torch", "prune", "save_model", "share_weights", "storage_report", "structured_mask",
]

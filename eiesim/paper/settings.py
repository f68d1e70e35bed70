"""How much the evaluation runs: ``smoke`` (seconds, for tests), ``default``, ``full``.

The default keeps the paper's axes but runs the PE-count and queue-depth sweeps as two
slices (PE counts at D = 8, queue depths at 64 PEs) instead of their full product, the
precision study on the five smaller layers, the baselines with fewer repeats, the Table IV
validation over 100 inputs per layer (the standard error of its means stays below the
effects it is compared with) and the pruning studies on NT-LSTM with a short LeNet
run; ``full`` runs the complete grid, every layer in every study (the pruning sweep over
eight densities, LeNet fully trained) and more baseline repeats.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eiecore.errors import EieError
from eiecore.validate import check_seed
from eiesim.paper.pruning import LeNetPruning
from eiesim.paper.table4 import INPUTS as TABLE4_INPUTS

MODES = ("smoke", "default", "full")
POW2_256 = (1, 2, 4, 8, 16, 32, 64, 128, 256)
ALL_LAYERS = ("Alex-6", "Alex-7", "Alex-8", "VGG-6", "VGG-7", "VGG-8", "NT-We", "NT-Wd", "NT-LSTM")
FULL_DENSITIES = (0.7, 0.5, 0.35, 0.2, 0.1, 0.07, 0.04, 0.02)
SMALL_LAYERS = ("Alex-8", "VGG-8", "NT-We", "NT-Wd", "NT-LSTM")


@dataclass(frozen=True)
class PaperSettings:
    mode: str
    seed: int = 0
    layers: tuple[str, ...] = ALL_LAYERS
    pe_counts: tuple[int, ...] = POW2_256
    queue_depths: tuple[int, ...] = POW2_256
    full_grid: bool = False  # PE counts x queue depths, not two slices
    sram_widths: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
    precision_layers: tuple[str, ...] = SMALL_LAYERS
    detail_layer: str = "NT-We"  # per-PE distributions
    baseline_layers: tuple[str, ...] = ALL_LAYERS
    baseline_batches: tuple[int, ...] = (1, 64)
    baseline_repeats: int = 10
    baseline_warmup: int = 2
    lenet: str = "full"  # workloads.lenet.LeNetSettings.<lenet>()
    lenet_overrides: dict = field(default_factory=dict)
    validation_inputs: int = TABLE4_INPUTS  # inputs per layer of the Table IV validation
    ppr_layers: tuple[str, ...] = ("NT-LSTM",)  # balance and PPR studies ('eiesim study ppr' runs more)
    ppr_densities: tuple[float, ...] = (0.5, 0.2, 0.1, 0.05)
    ppr_inputs: int = 2
    ppr_lenet: LeNetPruning = field(default_factory=LeNetPruning.quick)
    llm_model: str = "tinyllama-1.1b"  # LLM decode with streamed weights ('eiesim study llm' runs more)
    llm_methods: tuple[str, ...] = ("magnitude", "wanda", "2:4", "balanced")
    llm_densities: tuple[float, ...] = (0.6, 0.4, 0.25)
    llm_activations: tuple[str, ...] = ("dense", "teal", "relufied")
    llm_pes: tuple[int, ...] = (64, 256)
    llm_bandwidths: tuple[int, ...] = (64, 1280)  # DRAM bytes per cycle: LPDDR5-class, HBM-class at 800 MHz
    n_pe: int = 64  # the chip of the per-layer table and the slices
    queue_depth: int = 8
    spmat_width_bits: int = 64

    @classmethod
    def for_mode(cls, mode: str, seed: int = 0) -> "PaperSettings":
        if mode not in MODES:
            raise EieError(f"unknown evaluation mode {mode!r}; choose one of {', '.join(MODES)}")
        check_seed(seed)
        if mode == "full":
            return cls(mode, seed, full_grid=True, precision_layers=ALL_LAYERS, baseline_repeats=30,
                       baseline_warmup=3, ppr_layers=ALL_LAYERS, ppr_densities=FULL_DENSITIES,
                       ppr_lenet=LeNetPruning(), llm_model="llama2-7b", llm_densities=(0.6, 0.5, 0.4, 0.3))
        if mode == "smoke":
            return cls(mode, seed, layers=("NT-We",), pe_counts=(4, 64), queue_depths=(1, 8),
                       sram_widths=(32, 64), precision_layers=("NT-We",), baseline_layers=("NT-We",),
                       baseline_batches=(1,), baseline_repeats=1, baseline_warmup=0, lenet="reduced",
                       lenet_overrides={"dense_epochs": 1, "prune_steps": 1, "retrain_epochs": 0,
                                        "finetune_epochs": 0, "eie_images": 2, "check_images": 1},
                       validation_inputs=1, ppr_layers=("NT-We",), ppr_densities=(0.5, 0.1), ppr_inputs=1,
                       ppr_lenet=LeNetPruning(densities=(0.3,), retrain_epochs=1, images=1, dense_epochs=1),
                       llm_methods=("magnitude",), llm_densities=(0.5, 0.25), llm_activations=("teal",),
                       llm_pes=(64,), llm_bandwidths=(64,))
        return cls(mode, seed)

    @property
    def grid_note(self) -> str:
        if self.full_grid:
            return (f"full grid: {len(self.pe_counts)} PE counts x {len(self.queue_depths)} queue depths "
                    f"x {len(self.layers)} layers")
        return (f"two slices: PE counts {self.pe_counts[0]}..{self.pe_counts[-1]} at D = {self.queue_depth}, "
                f"queue depths {self.queue_depths[0]}..{self.queue_depths[-1]} at N = {self.n_pe} "
                f"(--full runs the whole product)")

"""Planning past "N and D for C": repeated data, inference demand, a target loss, and cost.

References: Muennighoff et al. 2023 (data-constrained); Sardana et al. 2024 (inference-aware);
Hoffmann et al. 2022 (the loss law and its frontier).
"""

from scaling.planning.cost import Cost, cost_of
from scaling.planning.data_constrained import DataConstrainedPlan, plan_data_constrained
from scaling.planning.inference import InferencePlan, plan_inference
from scaling.planning.report import BeyondReport, PricedPlan, plan_beyond
from scaling.planning.target import TargetPlan, compute_for_loss, plan_for_loss

__all__ = ["BeyondReport", "Cost", "DataConstrainedPlan", "InferencePlan", "PricedPlan", "TargetPlan",
           "compute_for_loss", "cost_of", "plan_beyond", "plan_data_constrained", "plan_for_loss", "plan_inference"]

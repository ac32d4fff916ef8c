"""The OpenVINO classes the engine uses, from where each release keeps them; its errors."""

try:  # OpenVINO 2023.1 and newer
    from openvino import Core, Layout, PartialShape, Type
except ImportError:  # 2022.3 LTS, the last with the MYRIAD plugin
    from openvino.runtime import Core, Layout, PartialShape, Type
from openvino.preprocess import PrePostProcessor

__all__ = ['Core', 'Layout', 'PartialShape', 'PrePostProcessor', 'short_reason', 'Type']


def short_reason(error: BaseException) -> str:
    """Return the informative line of an OpenVINO exception (it prefixes source locations)."""
    lines = [line.strip() for line in str(error).splitlines()]
    lines = [line for line in lines if line and not line.startswith('Exception from ')]
    return lines[-1] if lines else type(error).__name__

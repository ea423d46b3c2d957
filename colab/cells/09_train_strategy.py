def pick_strategy(requested: str) -> str:
    """The trainer's --strategy: a TPU if the runtime has one, else all GPUs, else the CPU."""
    if requested != "auto":
        return requested
    if (os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME")
            or tf.config.list_logical_devices("TPU")):
        return "tpu"
    if tf.config.list_physical_devices("GPU"):
        return "mirrored"
    return "default"


strategy = pick_strategy(STRATEGY)
print("strategy:", strategy, "| devices:", [d.name for d in tf.config.list_logical_devices()])

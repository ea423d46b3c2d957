print(json.dumps({"out_dir": str(OUT), "model": str(MODEL_PATH), "tflite": str(TFLITE_PATH),
                  "jxl": str(JXL_PATH), "seconds": {k: round(v, 1) for k, v in TIMES.items()}},
                 indent=1))

# The attention-center command, as you would type it (python -m attention_center = attention-center).
SAMPLE_DIR = OUT / "sample"
SAMPLE_DIR.mkdir(exist_ok=True)
shutil.copyfile(sample, SAMPLE_DIR / sample.name)
JXL_DIR = OUT / "jxl"
command = [sys.executable, "-m", "attention_center", "encode", f"--image_dir={SAMPLE_DIR}",
           f"--output_dir={JXL_DIR}", f"--lite_model_file={TFLITE_PATH}", "--verbose",
           "--progress=false"]
print("$ attention-center", " ".join(command[3:]))
start = time.perf_counter()
done = subprocess.run(command, capture_output=True, text=True)
TIMES["encode"] = time.perf_counter() - start
print(done.stdout + done.stderr)
if done.returncode != 0:
    raise RuntimeError(f"attention-center encode exited with {done.returncode}")
JXL_PATH = JXL_DIR / f"{sample.name}.jxl"
print(f"{JXL_PATH}: {JXL_PATH.stat().st_size / 1e3:.1f} kB "
      f"(the photo: {sample.stat().st_size / 1e3:.1f} kB)")

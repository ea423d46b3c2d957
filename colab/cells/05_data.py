from attention_center.data import download

SOURCE_LIST = [] if RECORDS else [s.strip() for s in SOURCES.split(",") if s.strip()]
if USE_DRIVE:
    from google.colab import drive

    drive.mount("/content/drive")
if DATA_DIR:
    DATA = Path(DATA_DIR).expanduser().resolve()
elif USE_DRIVE:
    DATA = Path("/content/drive/MyDrive/attention_center_data")
elif checkout_root() is not None and (checkout_root().parent / "shared" / "data").is_dir():
    DATA = checkout_root().parent / "shared" / "data"
else:
    DATA = Path("data").resolve()
fetch_data = (not os.environ.get("CI")) if FETCH_DATA == "auto" else bool(FETCH_DATA)
needed = download.datasets_for_sources(SOURCE_LIST)
print(f"data root: {DATA}; datasets the sources read: {', '.join(needed) or 'none (your own file)'}")
for folder in needed:
    dataset = download.DATASETS[folder]
    print(f"- {folder}/: {dataset.title}; github.com/{dataset.repository}; licence: {dataset.licence}")
    if fetch_data:
        mirror = f"{DATA_MIRROR.rstrip('/')}/{folder}" if DATA_MIRROR else None
        report = download.fetch(folder, DATA, base_url=mirror, check=False)
        if not report.ok:
            raise RuntimeError(f"{len(report.errors)} files of {folder} could not be fetched "
                               f"(run this cell again to resume): {report.errors[0]}")
    elif not (DATA / folder).is_dir():
        raise RuntimeError(f"{DATA / folder}: no such folder (the {folder} dataset): set "
                           "FETCH_DATA = True to fetch it, or DATA_DIR to the folder that holds it")

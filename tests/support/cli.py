"""Arguments of the tiny synthetic CLI runs that the tests share."""

TINY_DATA = [
    "--data.dataset=synthetic",
    "--data.synthetic.height=32",
    "--data.synthetic.width=40",
    "--data.synthetic.num_train=16",
    "--data.synthetic.num_val=8",
    "--data.batch_size=4",
    "--data.num_workers=0",
    "--model.network.embed_dim=16",
    "--trainer.accelerator=cpu",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.log_every_n_steps=1",
]


def _args(subcommand, cache, out, *extra):
    return [
        subcommand,
        f"--data.root={cache}",
        f"--trainer.default_root_dir={out}",
        "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
        f"--trainer.logger.save_dir={out}",
        "--trainer.logger.name=run",
        f"--trainer.logger.version={subcommand}",
        *TINY_DATA,
        *extra,
    ]

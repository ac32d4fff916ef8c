"""face-train: train the MobileNet-SSD face detector; checkpoints, resumes, logs loss and mAP."""

import argparse
import contextlib
import csv
import io
import math
from pathlib import Path
import pickle
import sys

from face_detector_ros import files
from face_detector_ros.datasets.annotations import DatasetError
from face_detector_ros.detection.model_cards import models_dir
from face_detector_ros.tools import cli
from face_detector_ros.training.backbone import BackboneError, load_body, read_body
from face_detector_ros.training.data import default_class_names, read_samples, TrainingSet
from face_detector_ros.training.evaluate import evaluate_map
from face_detector_ros.training.loss import multibox_loss
from face_detector_ros.training.model import MobileNetSSD, SSDConfig
import torch
from torch.utils.data import DataLoader, RandomSampler
from tqdm import tqdm

LAST = 'last.pt'
BEST = 'best.pt'
LOG = 'log.csv'
LOG_FIELDS = ('iteration', 'loss', 'box_loss', 'class_loss', 'lr', 'map')
# Settings that define the model: a resumed run must not change them.
MODEL_ARGS = ('input_size', 'width', 'classes')


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog='face-train', description=__doc__,
        epilog='Run the same command again to resume from OUTPUT/last.pt.')
    parser.add_argument('train', help='training set: VOC list (trainval.txt), darknet list '
                        '(train.txt) or YOLO folder, as the dataset tools write them')
    parser.add_argument('output', help='folder for checkpoints, best weights, log and plots')
    parser.add_argument('--test', help='test set (same forms) for mAP during training')
    parser.add_argument('--classes', help='comma-separated class names (default: the label '
                        'map or .names beside the training set, else its labels sorted)')
    parser.add_argument('--input-size', type=int, default=300, help='input side (default 300)')
    parser.add_argument('--width', type=float, default=1.0,
                        help='MobileNet width multiplier (default 1.0)')
    parser.add_argument('--init-backbone', metavar='ONNX',
                        help='start the MobileNet body from the one in this ONNX file, a path or '
                        'a file in the shipped models folder: retinaface_mnet025.onnx (a body '
                        'trained on WIDER FACE; needs --width 0.25, sets LeakyReLU 0.1)')
    parser.add_argument('--no-augment', dest='augment', action='store_false',
                        help='train on the plain images (to check that a tiny set is learned)')
    parser.add_argument('--iterations', type=int, default=120000)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--lr', type=float, default=0.01, help='peak SGD learning rate')
    parser.add_argument('--warmup', type=int, default=1000, help='linear warm-up iterations')
    parser.add_argument('--weight-decay', type=float, default=5e-4)
    parser.add_argument('--checkpoint-every', type=int, default=1000)
    parser.add_argument('--eval-every', type=int, default=5000,
                        help='evaluate mAP every N iterations (and at the end)')
    parser.add_argument('--log-every', type=int, default=50)
    parser.add_argument('--workers', type=int, default=4, help='data loader processes')
    parser.add_argument('--device', default='auto', help='cpu, cuda, cuda:1 ... (default: '
                        'cuda if available)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    for name in ('iterations', 'batch_size', 'checkpoint_every', 'eval_every', 'log_every'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be positive')
    if args.batch_size < 2:
        parser.error('--batch-size must be at least 2 (BatchNorm needs it)')
    # `not` catches nan too: it trained to a loss of nan and exited 0.
    for name, value, low, high in (('lr', args.lr, 0.0, 10.0),
                                   ('weight_decay', args.weight_decay, 0.0, 1.0),
                                   ('width', args.width, 0.05, 4.0)):
        if not (low < value <= high if name != 'weight_decay' else low <= value <= high):
            parser.error(f'--{name.replace("_", "-")} {value} is not in '
                         f'{"[" if name == "weight_decay" else "("}{low:g}, {high:g}]')
    if args.warmup < 0 or args.workers < 0 or not 32 <= args.input_size <= 2048:
        parser.error(f'--warmup {args.warmup} and --workers {args.workers} must not be '
                     f'negative, --input-size {args.input_size} must be in [32, 2048]')
    return args


class Trainer:
    """The model, optimiser and log of one run, with checkpoint save and restore."""

    def __init__(self, args, config, device):
        """Build a fresh run."""
        self.args = args
        self.config = config
        self.device = device
        self.model = MobileNetSSD(config).to(device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=args.lr, momentum=0.9,
                                         weight_decay=args.weight_decay)
        self.iteration = 0
        self.history = []
        self.best_map = -1.0
        self.output = Path(args.output)

    def learning_rate(self):
        """Return the learning rate of the next iteration."""
        return warmup_cosine(self.iteration + 1, self.args.lr, self.args.warmup,
                             self.args.iterations)

    def step(self, images, offsets, labels):
        """Run one optimisation step; return (box loss, class loss) as floats."""
        lr = self.learning_rate()
        for group in self.optimizer.param_groups:
            group['lr'] = lr
        predicted_offsets, logits = self.model(images.to(self.device))
        box_loss, class_loss = multibox_loss(predicted_offsets, logits, offsets.to(self.device),
                                             labels.to(self.device))
        self.optimizer.zero_grad(set_to_none=True)
        (box_loss + class_loss).backward()
        self.optimizer.step()
        self.iteration += 1
        return box_loss.item(), class_loss.item()

    def state(self):
        """Return everything a resumed run needs."""
        return {'iteration': self.iteration, 'config': self.config.to_dict(),
                'model': self.model.state_dict(), 'optimizer': self.optimizer.state_dict(),
                'history': self.history, 'best_map': self.best_map,
                'rng': torch.get_rng_state(), 'args': vars(self.args)}

    def restore(self, state):
        """Continue from a state written by `state`."""
        self.model.load_state_dict(state['model'])
        self.optimizer.load_state_dict(state['optimizer'])
        self.iteration = state['iteration']
        self.history = state['history']
        self.best_map = state['best_map']
        torch.set_rng_state(state['rng'].cpu())  # loaded onto the training device

    def save(self, name, state=None):
        """Write OUTPUT/name: the given state, else everything a resumed run needs."""
        write_checkpoint(self.output / name, self.state() if state is None else state)

    def write_log(self):
        """Rewrite the CSV log and the loss and mAP plots from the history."""
        write_log(self.history, LOG_FIELDS, self.output,
                  {'loss': 'training loss', 'map': 'test mAP@0.5'})


def write_checkpoint(path, state):
    """Write a torch checkpoint atomically: an interrupted write leaves the old file intact."""
    with files.atomic_output_file(path, 'wb') as stream:
        torch.save(state, stream)


def warmup_cosine(step, peak, warmup, total):
    """Return the learning rate of 1-based `step`: linear warm-up, then cosine decay to zero."""
    if step <= warmup:
        return peak * step / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def write_log(history, fields, folder, plots):
    """Rewrite FOLDER/log.csv from the history, and COLUMN.png for each {column: title}."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fields, lineterminator='\n')
    writer.writeheader()
    writer.writerows(history)
    with files.atomic_output_file(folder / LOG) as stream:
        stream.write(text.getvalue())
    for column, title in plots.items():
        plot(history, column, title, folder / f'{column}.png')


def plot(history, column, title, path):
    """Plot one column of the history against the iteration as a PNG."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot

    points = [(row['iteration'], row[column]) for row in history if row.get(column) != '']
    figure, axes = pyplot.subplots(figsize=(6, 4))
    if points:
        axes.plot(*zip(*points), marker=None if column == 'loss' else '.')
    axes.set_xlabel('iteration')
    axes.set_title(title)
    axes.grid(alpha=0.3)
    with files.atomic_output_file(path, 'wb') as stream:
        figure.savefig(stream, format='png', dpi=100)
    pyplot.close(figure)


@contextlib.contextmanager
def reading_checkpoint(path):
    """Turn a failure to load or apply the checkpoint `path` into a one-line CliError."""
    try:
        yield
    except (pickle.UnpicklingError, OSError, RuntimeError, EOFError, KeyError,
            TypeError) as error:
        # load_state_dict's message lists every key on many lines; the first says enough.
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise cli.CliError(f'{path} is not a usable face-train checkpoint: {reason}') from None


def model_file(name, option):
    """Return the file of `option`: a path, else a file in the shipped models folder."""
    for path in (Path(name), models_dir() / name):
        if path.is_file():
            return path
    raise cli.CliError(f'{option} {name}: no such file here or in {models_dir()}')


@contextlib.contextmanager
def one_line(*errors):
    """Turn the given exception types (their message says what is wrong) into a CliError."""
    try:
        yield
    except errors as error:
        raise cli.CliError(error) from None


def read_backbone(path):
    """Return read_body(path), failures as one line."""
    with one_line(BackboneError):
        return read_body(path)


def resolve_device(name):
    """Return the torch device for --device."""
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        device = torch.device(name)
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as error:
        raise cli.CliError(f'device {name!r} cannot be used: {error}') from error
    return device


@cli.console_main
def main(argv=None):
    """Train, checkpointing every N iterations; resume from the output folder's last.pt."""
    args = parse_args(argv)
    device = resolve_device(args.device)
    output = Path(args.output)
    try:
        train_samples = read_samples(args.train)
        test_samples = read_samples(args.test) if args.test else []
    except DatasetError as error:
        raise cli.CliError(error) from error
    last = output / LAST
    resumed = None
    if last.is_file():
        with reading_checkpoint(last):
            resumed = torch.load(last, map_location=device, weights_only=False)
            changed = [name for name in MODEL_ARGS
                       if resumed['args'][name] != getattr(args, name)
                       and getattr(args, name) is not None]
            config = SSDConfig.from_dict(resumed['config'])
        if changed:
            raise cli.CliError(f'{last} was trained with other {", ".join(changed)}; '
                               'use another output folder or the same settings')
    elif output.is_dir() and any(output.iterdir()):
        raise cli.CliError(f'{output} is not empty and holds no {LAST} to resume from; '
                           'choose a new output folder')
    else:
        torch.manual_seed(args.seed)
        classes = (tuple(args.classes.split(',')) if args.classes
                   else default_class_names(args.train, train_samples))
        backbone = (model_file(args.init_backbone, '--init-backbone') if args.init_backbone
                    else None)
        leaky = read_backbone(backbone)[1] if backbone else 0.0
        config = SSDConfig(args.input_size, classes or ('face',), args.width, leaky=leaky)
        args.classes = ','.join(config.class_names)
    try:
        dataset = TrainingSet(train_samples, config, augmented=args.augment)
        TrainingSet(test_samples, config, augmented=False)  # checks the test labels now
    except DatasetError as error:
        raise cli.CliError(error) from error

    trainer = Trainer(args, config, device)
    if resumed is None and backbone:
        plain = TrainingSet(train_samples, config, augmented=False)
        images = torch.stack([plain[index][0] for index in range(min(32, len(plain)))])
        with one_line(BackboneError):
            load_body(trainer.model, backbone, images.to(device))
        print(f'face-train: body from {backbone}, BatchNorm fitted on {len(images)} training '
              'images', file=sys.stderr)
    if resumed is not None:
        with reading_checkpoint(last):
            trainer.restore(resumed)
        print(f'face-train: resuming {last} at iteration {trainer.iteration}', file=sys.stderr)
    output.mkdir(parents=True, exist_ok=True)
    remaining = args.iterations - trainer.iteration
    if remaining <= 0:
        print(f'face-train: {last} already reached {trainer.iteration} iterations; '
              'pass a larger --iterations to continue', file=sys.stderr)
        return 0
    loader = DataLoader(dataset, batch_size=args.batch_size, drop_last=True,
                        num_workers=args.workers, pin_memory=device.type == 'cuda',
                        sampler=RandomSampler(dataset, replacement=True,
                                              num_samples=remaining * args.batch_size))
    trainer.model.train()
    window, postfix = [], {}
    progress = tqdm(total=args.iterations, initial=trainer.iteration, desc='face-train',
                    unit='it', dynamic_ncols=True)
    try:
        for images, offsets, labels in loader:
            window.append(trainer.step(images, offsets, labels))
            progress.update()
            done = trainer.iteration == args.iterations
            row = {}
            if trainer.iteration % args.log_every == 0 or done:
                box_loss, class_loss = (sum(values) / len(window) for values in zip(*window))
                row = {'iteration': trainer.iteration, 'loss': box_loss + class_loss,
                       'box_loss': box_loss, 'class_loss': class_loss,
                       'lr': trainer.learning_rate(), 'map': ''}
                window = []
                postfix['loss'] = f'{row["loss"]:.3f}'
            if test_samples and (trainer.iteration % args.eval_every == 0 or done):
                row = row or {'iteration': trainer.iteration, 'loss': '', 'box_loss': '',
                              'class_loss': '', 'lr': trainer.learning_rate()}
                row['map'] = evaluate_map(trainer.model, test_samples, config, device)
                if row['map'] > trainer.best_map:
                    trainer.best_map = row['map']
                    trainer.save(BEST, {'config': config.to_dict(), 'map': row['map'],
                                        'iteration': trainer.iteration,
                                        'model': trainer.model.state_dict()})
                postfix['mAP'] = f'{row["map"]:.3f}'
            if row:
                trainer.history.append(row)
                progress.set_postfix(postfix)
            if trainer.iteration % args.checkpoint_every == 0 or done:
                trainer.save(LAST)
                trainer.write_log()
    except KeyboardInterrupt:
        progress.close()
        raise cli.CliError(f'interrupted at iteration {trainer.iteration}; the last checkpoint '
                           f'is {last}: run the same command to resume') from None
    progress.close()
    if not test_samples:
        trainer.save(BEST, {'config': config.to_dict(), 'map': None,
                            'iteration': trainer.iteration, 'model': trainer.model.state_dict()})
    final = trainer.history[-1]
    best = f'best mAP@0.5 {trainer.best_map:.4f}' if test_samples else 'no test set'
    print(f'face-train: {trainer.iteration} iterations, last loss {final["loss"]:.4f}, {best}; '
          f'weights in {output / BEST}, log in {output / LOG}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

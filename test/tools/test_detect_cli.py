"""face-detect end to end, in a subprocess: images, folders, videos, JSON lines, annotations."""

import json
from pathlib import Path
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import skimage.data

REPO = Path(__file__).resolve().parents[2]


def run(*args):
    """Run face-detect from the repository root; return the completed process (text output)."""
    command = [sys.executable, '-m', 'face_detector_ros.tools.detect', *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO)


@pytest.fixture(scope='module')
def media(tmp_path_factory):
    """Return a folder with a face photo, a photo without faces and a 3-frame video of the face."""
    folder = tmp_path_factory.mktemp('media')
    astronaut = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(folder / 'astronaut.png'), astronaut)
    cv2.imwrite(str(folder / 'coffee.jpg'), cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR))
    writer = cv2.VideoWriter(str(folder / 'clip.avi'), cv2.VideoWriter_fourcc(*'MJPG'), 10,
                             (512, 512))
    for shift in (0, 20, 40):
        writer.write(np.roll(astronaut, shift, axis=1))
    writer.release()
    return folder


def test_json_lines_for_a_folder_of_images_and_a_video_with_annotated_output(media, tmp_path):
    out = tmp_path / 'annotated'
    result = run(media, '--json', '--output-dir', out)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line['source'], line['frame']) for line in lines] == [
        (str(media / 'astronaut.png'), 0), (str(media / 'clip.avi'), 0),
        (str(media / 'clip.avi'), 1), (str(media / 'clip.avi'), 2),
        (str(media / 'coffee.jpg'), 0)]
    for line in lines:
        assert set(line) == {'source', 'frame', 'width', 'height', 'detections'}
        expected = (600, 400) if line['source'].endswith('coffee.jpg') else (512, 512)
        assert (line['width'], line['height']) == expected
    assert lines[-1]['detections'] == []
    for line, shift in zip(lines[:4], (0, 0, 20, 40)):
        (face,) = line['detections']
        assert set(face) == {'bbox', 'score', 'label'} and face['label'] == 'face'
        assert 0.6 <= face['score'] <= 1
        # The hand-labelled astronaut face (181, 91, 271, 180), moved with the video frame;
        # RetinaFace's WIDER-style box reaches up to the hairline (centre about 18 px higher).
        x1, y1, x2, y2 = face['bbox']
        assert abs((x1 + x2) / 2 - (226 + shift)) < 8 and abs((y1 + y2) / 2 - 135) < 25
    written = sorted(path.name for path in out.iterdir())
    assert written == ['astronaut.png', 'clip_000000.png', 'clip_000001.png', 'clip_000002.png',
                       'coffee.png']
    annotated = cv2.imread(str(out / 'astronaut.png'))
    assert annotated.shape == (512, 512, 3)
    assert not np.array_equal(annotated, cv2.imread(str(media / 'astronaut.png')))
    assert '5 image(s) or frame(s) from 3 file(s), 4 face(s)' in result.stderr


def test_plain_output_threshold_model_and_device_fallback(media):
    result = run(media / 'astronaut.png', '--model', 'blazeface_full_range', '--device',
                 'MYRIAD,CPU', '--threshold', '0.99')
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f'{media / "astronaut.png"} frame 0: 0 face(s)']
    assert 'MYRIAD' in result.stderr and 'not registered' in result.stderr
    assert 'on CPU with blazeface_full_range' in result.stderr


def test_list_models_prints_one_shipped_name_per_line_name_first():
    result = run('--list-models')
    assert result.returncode == 0, result.stderr
    rows = [line.split('\t') for line in result.stdout.splitlines()]
    names = [row[0] for row in rows]
    assert {'blazeface_short_range', 'blazeface_full_range', 'blazeface_full_range_sparse',
            'blazeface_small_faces', 'retinaface', 'retinaface_640x480',
            'retinaface_320x240'} <= set(names)
    assert names == sorted(names)
    # Every profile shows its measured recall on real photos and its speed.
    for row in rows:
        assert len(row) == 3 and 'recall' in row[2] and 'ms' in row[2], row
    assert [row[0] for row in rows if row[1].endswith('(default)')] == ['retinaface']


def test_width_resizes_before_detecting_and_boxes_stay_in_original_pixels(media, tmp_path):
    cv2.imwrite(str(tmp_path / 'strip.png'), np.full((1, 4000, 3), 90, np.uint8))
    reference = run(media / 'astronaut.png', '--json')
    halved = run(media / 'astronaut.png', tmp_path / 'strip.png', '--json', '--width', 256)
    assert reference.returncode == 0 and halved.returncode == 0, halved.stderr
    (face,), = [json.loads(line)['detections'] for line in reference.stdout.splitlines()]
    first, strip = [json.loads(line) for line in halved.stdout.splitlines()]
    assert (first['width'], first['height']) == (512, 512)
    (small,) = first['detections']
    # Found at half size and mapped back: the same face within a few pixels of the original.
    assert np.abs(np.subtract(small['bbox'], face['bbox'])).max() < 8
    assert (strip['width'], strip['height'], strip['detections']) == (4000, 1, [])
    refused = run(media / 'astronaut.png', '--width', -5)
    assert refused.returncode != 0 and '--width must be in [0, 20000]' in refused.stderr


@pytest.mark.parametrize('args, message', [
    (['missing.png'], 'no such file or folder: {}/missing.png'),
    (['notes.txt'], 'is neither an image'),
    (['astronaut.png', '--model', 'nope'], "unknown model 'nope'"),
    (['astronaut.png', '--device', 'FOO'], 'no device of FOO can run model'),
    (['astronaut.png', '--threshold', '2'], '--threshold must be in [0, 1]'),
    ([], 'give at least one image'),
])
def test_a_bad_input_is_one_error_line_and_a_non_zero_status(media, tmp_path, args, message):
    (tmp_path / 'notes.txt').write_text('not an image')
    (tmp_path / 'broken.png').write_bytes(b'\x89PNG not really')
    (tmp_path / 'astronaut.png').write_bytes((media / 'astronaut.png').read_bytes())
    out = tmp_path / 'out'
    paths = [tmp_path / arg if index == 0 else arg for index, arg in enumerate(args)]
    result = run(*paths, '--output-dir', out)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if 'error' in line]
    assert len(errors) == 1 and message.format(tmp_path) in errors[0], result.stderr
    assert 'Traceback' not in result.stderr
    assert not out.exists(), 'no partial output'


def test_an_unreadable_file_is_skipped_with_a_warning_and_the_run_fails(media, tmp_path):
    folder = tmp_path / 'photos'
    folder.mkdir()
    for name in ('astronaut.png', 'coffee.jpg'):
        (folder / name).write_bytes((media / name).read_bytes())
    (folder / 'broken.png').write_bytes(b'\x89PNG not really')
    out = tmp_path / 'out'
    result = run(folder, '--json', '--output-dir', out)
    assert result.returncode == 2
    assert [json.loads(line)['source'] for line in result.stdout.splitlines()] == [
        str(folder / 'astronaut.png'), str(folder / 'coffee.jpg')]
    assert sorted(path.name for path in out.iterdir()) == ['astronaut.png', 'coffee.png']
    lines = result.stderr.splitlines()
    assert [line for line in lines if ': warning: ' in line] == [
        f'face-detect: warning: cannot read image {folder / "broken.png"}: not an image OpenCV '
        'can decode; skipped']
    assert lines[-1].endswith(': error: 1 of 3 file(s) could not be read (warnings above); '
                              'the others were processed')
    assert '2 image(s) or frame(s) from 2 file(s), 1 face(s)' in result.stderr


def ignore_sigint():
    """Start as a background job of a shell does: with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize('signal_number, start', [(signal.SIGTERM, None), (signal.SIGINT, None),
                                                  (signal.SIGINT, ignore_sigint)])
def test_a_signal_mid_run_leaves_no_partial_output(media, tmp_path, signal_number, start):
    # SIGTERM left a .partial folder with a truncated PNG; it now unwinds as Ctrl-C does. A
    # background job's SIGINT (ignored at start) did nothing at all.
    video = tmp_path / 'long.avi'
    frame = cv2.imread(str(media / 'astronaut.png'))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 10, (512, 512))
    for _ in range(300):
        writer.write(frame)
    writer.release()
    out = tmp_path / 'out'
    command = [sys.executable, '-m', 'face_detector_ros.tools.detect', str(video),
               '--output-dir', str(out)]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=start)
    try:
        # Wait until annotated frames are being written into the staging folder.
        deadline = time.monotonic() + 60
        while not any(tmp_path.glob('.out.partial-*/*.png')):
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
            time.sleep(0.05)
        process.send_signal(signal_number)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130 and 'interrupted, no output written' in stderr, stderr
    assert 'Traceback' not in stderr
    assert not out.exists() and not list(tmp_path.glob('.out*'))


# face-detect where `import ray` fails, as on a machine without Ray.
WITHOUT_RAY = ("import sys; sys.modules['ray'] = None; sys.argv[0] = 'face-detect'; "
               'from face_detector_ros.tools.detect import main; sys.exit(main(sys.argv[1:]))')


def test_workers_on_ray_or_without_ray_give_the_output_of_one_process(media, tmp_path):
    (tmp_path / 'more').mkdir()  # a second astronaut.png: its annotated image is astronaut_2
    (tmp_path / 'more' / 'astronaut.png').write_bytes((media / 'astronaut.png').read_bytes())
    listing = tmp_path / 'list.txt'
    listing.write_text('more/astronaut.png\n')
    inputs = [f'{media}/*.png', media / 'clip.avi', media / 'coffee.jpg', '--from-list', listing]
    runs = {}
    for name, extra, python in (('one', [], None), ('ray', ['--workers', '2'], None),
                                ('without_ray', ['--workers', '2'], WITHOUT_RAY)):
        command = [sys.executable, *(['-c', python] if python else
                                     ['-m', 'face_detector_ros.tools.detect']),
                   *map(str, inputs), '--json', '--output-dir', str(tmp_path / name), *extra]
        runs[name] = subprocess.run(command, capture_output=True, text=True, timeout=180,
                                    cwd=REPO)
        assert runs[name].returncode == 0, runs[name].stderr
    sources = [json.loads(line)['source'] for line in runs['one'].stdout.splitlines()]
    assert sources == [str(media / 'astronaut.png')] + [str(media / 'clip.avi')] * 3 + [
        str(media / 'coffee.jpg'), str(tmp_path / 'more' / 'astronaut.png')]
    images = sorted(path.name for path in (tmp_path / 'one').iterdir())
    assert images == ['astronaut.png', 'astronaut_2.png', 'clip_000000.png', 'clip_000001.png',
                      'clip_000002.png', 'coffee.png']
    for name in ('ray', 'without_ray'):
        assert runs[name].stdout == runs['one'].stdout
        for image in images:
            assert (tmp_path / name / image).read_bytes() == \
                (tmp_path / 'one' / image).read_bytes()

    def workers(stderr):
        """Return the summary table's rows of worker processes (header and total left out)."""
        lines = stderr.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith('worker '))
        end = next(i for i, line in enumerate(lines) if line.startswith('total '))
        return lines[start + 1:end]

    assert len(workers(runs['ray'].stderr)) == 2
    assert len(workers(runs['without_ray'].stderr)) == 1
    assert 'note: Ray is not installed' in runs['without_ray'].stderr
    for result in runs.values():
        assert '6 image(s) or frame(s) from 4 file(s), 5 face(s)' in result.stderr


def test_face_eval_reads_the_shards_of_a_run_as_one(media, tmp_path):
    result = run(media / 'astronaut.png', media / 'coffee.jpg', '--json')
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    (tmp_path / 'shards').mkdir()
    (tmp_path / 'shards' / 'part-0.jsonl').write_text(first + '\n')
    (tmp_path / 'shards' / 'part-1.jsonl').write_text(second + '\n')
    (tmp_path / 'all.jsonl').write_text(result.stdout)
    # The hand-labelled astronaut face; the coffee cup photo has none.
    truth = tmp_path / 'gt.json'
    truth.write_text(json.dumps({
        'images': [{'id': 1, 'file_name': 'astronaut.png', 'width': 512, 'height': 512},
                   {'id': 2, 'file_name': 'coffee.jpg', 'width': 600, 'height': 400}],
        'categories': [{'id': 1, 'name': 'face'}],
        'annotations': [{'id': 1, 'image_id': 1, 'category_id': 1, 'bbox': [181, 91, 90, 89],
                         'iscrowd': 0}]}))

    def face_eval(*pred):
        command = [sys.executable, '-m', 'face_detector_ros.tools.evaluate', '--gt', str(truth),
                   '--pred', *map(str, pred), '--json', '--iou', '0.3']
        return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO)

    whole, shards = face_eval(tmp_path / 'all.jsonl'), face_eval(tmp_path / 'shards')
    assert whole.returncode == shards.returncode == 0, shards.stderr
    assert json.loads(shards.stdout) == json.loads(whole.stdout)
    assert json.loads(whole.stdout)['images'] == 2 and json.loads(whole.stdout)['ap50'] == 1.0
    twice = face_eval(tmp_path / 'shards', tmp_path / 'shards' / 'part-1.jsonl')
    assert twice.returncode == 2
    assert twice.stderr.splitlines() == [
        f'evaluate.py: error: {tmp_path / "shards" / "part-1.jsonl"}:1: a second line for image '
        f'coffee (first at {tmp_path / "shards" / "part-1.jsonl"}:1); give one line per image '
        '(video frames cannot be paired with ground truth)']

"""face-track-eval end to end, in a subprocess as users run it."""

import json
from pathlib import Path
import subprocess
import sys

import pytest

REPO = Path(__file__).resolve().parents[2]


def track_eval(*args):
    """Run the console script and return the completed process."""
    return subprocess.run([sys.executable, '-m', 'face_detector_ros.tools.track_eval', *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope='module')
def written(tmp_path_factory):
    """Run the crossing scenario at 7 FPS, writing MOT files; return (process, folder)."""
    folder = tmp_path_factory.mktemp('eval') / 'mot'
    process = track_eval('--scenario', 'crossing', '--fps', '7', '--write-dir', str(folder),
                         '--json')
    return process, folder


def test_scenario_json_and_files(written):
    process, folder = written
    assert process.returncode == 0, process.stderr
    results = {result['tracker']: result for result in json.loads(process.stdout)}
    assert set(results) == {'ours', 'greedy', 'reid'}
    assert results['ours']['sequence'] == 'crossing-7fps'
    assert results['ours']['id_switches'] < results['greedy']['id_switches']
    sequence = folder / 'crossing-7fps'
    assert sorted(path.name for path in sequence.iterdir()) == [
        'det.txt', 'greedy.txt', 'gt.txt', 'ours.txt', 'reid.txt']
    assert sequence.joinpath('gt.txt').read_text().startswith('1,')


def test_written_files_score_the_same(written):
    process, folder = written
    expected = {result['tracker']: result for result in json.loads(process.stdout)}['ours']
    sequence = folder / 'crossing-7fps'
    scored = track_eval('--gt', str(sequence / 'gt.txt'), '--pred', str(sequence / 'ours.txt'),
                        '--json')
    assert scored.returncode == 0, scored.stderr
    (result,) = json.loads(scored.stdout)
    for key in ('mota', 'idf1', 'id_switches', 'fragmentations', 'false_positives'):
        assert result[key] == pytest.approx(expected[key], abs=1e-3)
    # Face 1 marked 'ignore' (conf 0): it leaves the ground truth, and the tracks on it are
    # removed, not counted as false positives.
    rows = [line.split(',') for line in (sequence / 'gt.txt').read_text().splitlines()]
    ignored = [row[:6] + ['0'] + row[7:] if row[1] == '1' else row for row in rows]
    (sequence / 'ignored.txt').write_text(''.join(','.join(row) + '\n' for row in ignored))
    scored = track_eval('--gt', str(sequence / 'ignored.txt'), '--pred',
                        str(sequence / 'ours.txt'), '--json')
    (result,) = json.loads(scored.stdout)
    assert result['gt'] == expected['gt'] - sum(row[1] == '1' for row in rows)
    assert result['false_positives'] <= expected['false_positives']
    assert result['predictions'] < expected['predictions']


def test_detections_mode_tracks_and_prints_a_table(written):
    _, folder = written
    sequence = folder / 'crossing-7fps'
    process = track_eval('--gt', str(sequence / 'gt.txt'), '--det', str(sequence / 'det.txt'),
                         '--fps', '7')
    assert process.returncode == 0, process.stderr
    lines = process.stdout.splitlines()
    assert lines[0].split()[:4] == ['sequence', 'tracker', 'MOTA', 'IDF1']
    assert [line.split()[1] for line in lines[1:3]] == ['ours', 'greedy']
    assert lines[3].startswith('ours: ')


def test_existing_write_dir_is_refused(written):
    _, folder = written
    process = track_eval('--scenario', 'static', '--fps', '7', '--write-dir', str(folder))
    assert process.returncode != 0
    assert 'already exists' in process.stderr


@pytest.mark.parametrize('content', ['1,1,10,10\n', 'frame,id,x,y,w,h\n', ''])
def test_bad_input_file_is_one_line_error(tmp_path, content):
    bad = tmp_path / 'gt.txt'
    bad.write_text(content)
    process = track_eval('--gt', str(bad), '--pred', str(bad))
    assert process.returncode != 0
    assert len(process.stderr.strip().splitlines()) == 1
    assert 'gt.txt' in process.stderr and 'Traceback' not in process.stderr


@pytest.mark.parametrize('args', [
    ['--pred', 'p.txt'],
    ['--det', 'd.txt', '--gt', 'g.txt'],
    ['--scenario', 'all', '--fps', '0'],
    ['--gt', 'no/such/gt.txt', '--pred', 'no/such/pred.txt'],
])
def test_usage_errors(args):
    process = track_eval(*args)
    assert process.returncode != 0
    assert len(process.stderr.strip().splitlines()) == 1

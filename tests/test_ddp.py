"DistributedDataParallel through `diffad.training.Trainer`: two CPU processes on the Gloo backend."
import os, socket
from pathlib import Path
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

WORLD, STEPS, HALF = 2, 12, 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _model(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))


def _worker(rank, port, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(WORLD), DIFFAD_DEVICE='cpu')
    torch.set_num_threads(1)
    from diffad.training import Trainer, is_distributed, get_rank
    g = torch.Generator().manual_seed(0)  # the same dataset on every process
    x = torch.randn(64, 4, generator=g)
    ds = TensorDataset(x, x.sum(1, keepdim=True).sin(), torch.arange(64))
    dl = DataLoader(ds, batch_size=8, shuffle=True)  # the trainer shards it
    seen = []
    def loss_fn(model, batch):
        xb, yb, idx = batch
        seen.append(idx.tolist())
        return F.mse_loss(model(xb + 0.05 * torch.randn_like(xb)), yb)  # noise: per-process RNG

    kw = dict(lr=1e-2, ema_decay=0.9, device='cpu')
    init = _model(100 + rank).state_dict()  # different init per process: DDP must broadcast rank 0's
    tr = Trainer(_model(100 + rank), loss_fn, dl, **kw)
    assert is_distributed() and get_rank() == rank and tr.world_size == WORLD
    tr.fit(steps=STEPS, progress=False)
    straight = {'model': tr.model.state_dict(), 'ema': tr.ema.state_dict()['model'], 'losses': tr.losses,
                'step': tr.step, 'seen': seen[:4], 'init': init}
    # the same run cut in two: HALF steps, checkpoint, a new trainer resumes and finishes
    ckpt = Path(out) / 'ckpt.pt'
    Trainer(_model(100 + rank), loss_fn, dl, ckpt_path=ckpt, ckpt_every=4, **kw).fit(steps=HALF, progress=False)
    res = Trainer(_model(7), loss_fn, dl, **kw).resume(ckpt).fit(steps=STEPS, progress=False)
    resumed = {'model': res.model.state_dict(), 'losses': res.losses, 'ranks_in_ckpt': len(torch.load(ckpt, weights_only=True)['ranks'])}
    torch.save({'straight': straight, 'resumed': resumed}, Path(out) / f'rank{rank}.pt')
    dist.destroy_process_group()


def test_ddp_two_cpu_processes(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    r = [torch.load(tmp_path / f'rank{i}.pt', weights_only=True) for i in range(WORLD)]
    s0, s1 = r[0]['straight'], r[1]['straight']
    for k, v in s0['model'].items():
        assert torch.equal(v, s1['model'][k]), f'weights differ between processes: {k}'
        assert torch.equal(s0['ema'][k], s1['ema'][k]), f'EMA differs between processes: {k}'
        assert not torch.equal(v, s0['init'][k]), f'weights did not change: {k}'
    assert s0['step'] == s1['step'] == STEPS
    # each process read its own half of the data in the first epoch, and the two halves cover it
    i0, i1 = sum(s0['seen'], []), sum(s1['seen'], [])
    assert len(i0) == len(i1) == 32 and sorted(i0 + i1) == list(range(64))
    assert s0['losses'] == s1['losses']  # the mean over processes
    # resuming from a checkpoint written by rank 0 with both processes' RNG and data position is exact
    assert sorted(p.name for p in tmp_path.iterdir()) == ['ckpt.pt', 'rank0.pt', 'rank1.pt']  # no temporary files
    for i in range(WORLD):
        st, rs = r[i]['straight'], r[i]['resumed']
        assert rs['ranks_in_ckpt'] == WORLD
        assert rs['losses'] == st['losses'], f'rank {i}: resumed losses differ'
        for k, v in st['model'].items(): assert torch.equal(v, rs['model'][k]), f'rank {i}: resumed weights differ: {k}'

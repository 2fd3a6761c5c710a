import asyncio
async def dump_after(delay):
    await asyncio.sleep(delay)
    for t in asyncio.all_tasks():
        st = t.get_stack(limit=3)
        print("TASK", t.get_name(), [f"{f.f_code.co_filename.split('/')[-1]}:{f.f_lineno}:{f.f_code.co_name}" for f in st])

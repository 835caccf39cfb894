package metal

import "fmt"

// mtlPipeline is a compute pipeline state and the largest threadgroup it
// can run, which depends on the kernel's register use.
type mtlPipeline struct {
	obj        objcID
	maxThreads int
	kernel     string
	dev        *mtlDevice
}

func (p *mtlPipeline) Kernel() string { return p.kernel }

// Pipeline returns the kernel's pipeline, creating it on first use.
func (d *mtlDevice) Pipeline(kernel string) (Pipeline, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errClosed
	}
	if p, ok := d.pipelines[kernel]; ok {
		return p, nil
	}
	var p *mtlPipeline
	err := withPool(d.m.rt, func() error {
		fn := d.m.newFunctionWithName(d.library, d.m.nsString(kernel))
		if fn == 0 {
			return fmt.Errorf("kernel %q is not in the library", kernel)
		}
		var nsError objcID
		obj := d.m.newComputePipelineState(d.dev, fn, &nsError)
		// The pipeline keeps what it needs of the function.
		d.m.release(fn)
		if obj == 0 {
			return fmt.Errorf("kernel %q: create pipeline: %s", kernel, d.describe(nsError))
		}
		p = &mtlPipeline{obj: obj, maxThreads: int(d.m.maxTotalThreadsPerThreadgroup(obj)), kernel: kernel, dev: d}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("metal: %w", err)
	}
	d.pipelines[kernel] = p
	return p, nil
}

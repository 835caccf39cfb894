package metal

import "fmt"

// pipeline is a compute pipeline state and the largest threadgroup it
// can run, which depends on the kernel's register use.
type pipeline struct {
	obj        objcID
	maxThreads int
}

// pipelineFor returns the kernel's pipeline, creating it on first use.
// Call with d.mu held, inside an autorelease pool.
func (d *mtlDevice) pipelineFor(kernel string) (pipeline, error) {
	if p, ok := d.pipelines[kernel]; ok {
		return p, nil
	}
	fn := d.m.newFunctionWithName(d.library, d.m.nsString(kernel))
	if fn == 0 {
		return pipeline{}, fmt.Errorf("kernel %q is not in the library", kernel)
	}
	var nsError objcID
	obj := d.m.newComputePipelineState(d.dev, fn, &nsError)
	// The pipeline keeps what it needs of the function.
	d.m.release(fn)
	if obj == 0 {
		return pipeline{}, fmt.Errorf("kernel %q: create pipeline: %s", kernel, d.describe(nsError))
	}
	p := pipeline{obj: obj, maxThreads: int(d.m.maxTotalThreadsPerThreadgroup(obj))}
	d.pipelines[kernel] = p
	return p, nil
}
